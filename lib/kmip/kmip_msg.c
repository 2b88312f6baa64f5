#include "config.h"

#include "kmip_msg.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

/* Requests carry at most one key and a few names; a batch, one identifier an item. */
#define REQUEST_CAPACITY 4096
#define BATCH_CAPACITY (SK_KMIP_BATCH_MAX * (SK_KMIP_UID_MAX + 96) + 256)

static const struct {
	enum kmip_operation op;
	const char *name;
} op_names[] = {
	{ KMIP_OP_CREATE, "Create" },
	{ KMIP_OP_REGISTER, "Register" },
	{ KMIP_OP_LOCATE, "Locate" },
	{ KMIP_OP_GET, "Get" },
	{ KMIP_OP_GET_ATTRIBUTES, "Get Attributes" },
	{ KMIP_OP_ACTIVATE, "Activate" },
	{ KMIP_OP_REVOKE, "Revoke" },
	{ KMIP_OP_DESTROY, "Destroy" },
	{ KMIP_OP_DISCOVER_VERSIONS, "Discover Versions" },
};

static const struct {
	uint32_t reason;
	const char *name;
} reason_names[] = {
	{ 0x01, "Item Not Found" },
	{ 0x02, "Response Too Large" },
	{ 0x03, "Authentication Not Successful" },
	{ 0x04, "Invalid Message" },
	{ 0x05, "Operation Not Supported" },
	{ 0x06, "Missing Data" },
	{ 0x07, "Invalid Field" },
	{ 0x08, "Feature Not Supported" },
	{ 0x09, "Operation Canceled By Requester" },
	{ 0x0a, "Cryptographic Failure" },
	{ 0x0b, "Illegal Operation" },
	{ 0x0c, "Permission Denied" },
	{ 0x0d, "Object Archived" },
	{ 0x0e, "Index Out of Bounds" },
	{ 0x0f, "Application Namespace Not Supported" },
	{ 0x10, "Key Format Type Not Supported" },
	{ 0x11, "Key Compression Type Not Supported" },
	{ 0x100, "General Failure" },
};

const char *sk_kmip_operation_name(enum kmip_operation op)
{
	for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
		if (op_names[i].op == op)
			return op_names[i].name;
	return "unknown operation";
}

const char *sk_kmip_reason_name(uint32_t reason)
{
	for (size_t i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
		if (reason_names[i].reason == reason)
			return reason_names[i].name;
	return "unknown reason";
}

int sk_kmip_reason_errno(uint32_t reason)
{
	if (reason == 0x01)
		return -ENOENT;
	if (reason == 0x03 || reason == 0x0c)
		return -EACCES;
	return -EPROTO;
}

void sk_kmip_put_version(struct sk_ttlv_enc *enc, struct sk_kmip_version v)
{
	sk_ttlv_begin(enc, KMIP_TAG_PROTOCOL_VERSION);
	sk_ttlv_put_int(enc, KMIP_TAG_PROTOCOL_VERSION_MAJOR, v.major);
	sk_ttlv_put_int(enc, KMIP_TAG_PROTOCOL_VERSION_MINOR, v.minor);
	sk_ttlv_end(enc);
}

int sk_kmip_read_version(const struct sk_ttlv_doc *doc, int item, struct sk_kmip_version *v)
{
	int32_t major, minor;

	if (sk_ttlv_get_int(doc, sk_ttlv_find(doc, item, KMIP_TAG_PROTOCOL_VERSION_MAJOR, -1),
			    &major) < 0 ||
	    sk_ttlv_get_int(doc, sk_ttlv_find(doc, item, KMIP_TAG_PROTOCOL_VERSION_MINOR, -1),
			    &minor) < 0)
		return -EBADMSG;
	*v = (struct sk_kmip_version){ major, minor };
	return 0;
}

static int request_open(struct sk_kmip_request *req, struct sk_kmip_version version,
			enum kmip_operation op, size_t count)
{
	int r = sk_ttlv_enc_init(&req->enc, count > 1 ? BATCH_CAPACITY : REQUEST_CAPACITY);

	if (r < 0)
		return r;
	req->version = version;
	req->op = op;
	req->items = 0;
	req->item_open = false;
	sk_ttlv_begin(&req->enc, KMIP_TAG_REQUEST_MESSAGE);
	sk_ttlv_begin(&req->enc, KMIP_TAG_REQUEST_HEADER);
	sk_kmip_put_version(&req->enc, version);
	/* PyKMIP, for one, stops at the first failed item unless told otherwise. */
	if (count > 1)
		sk_ttlv_put_enum(&req->enc, KMIP_TAG_BATCH_ERROR_CONTINUATION_OPTION,
				 KMIP_BATCH_CONTINUE);
	sk_ttlv_put_int(&req->enc, KMIP_TAG_BATCH_COUNT, (int32_t)count);
	sk_ttlv_end(&req->enc);
	return 0;
}

static void item_close(struct sk_kmip_request *req)
{
	if (!req->item_open)
		return;
	sk_ttlv_end(&req->enc); /* payload */
	sk_ttlv_end(&req->enc); /* batch item */
	req->item_open = false;
}

/* The item's index, 4 bytes big-endian: what the response's items are matched by. */
static void put_item_id(struct sk_kmip_request *req, size_t index)
{
	const unsigned char id[4] = { (unsigned char)(index >> 24), (unsigned char)(index >> 16),
				      (unsigned char)(index >> 8), (unsigned char)index };

	sk_ttlv_put_bytes(&req->enc, KMIP_TAG_UNIQUE_BATCH_ITEM_ID, id, sizeof(id));
}

static void item_open(struct sk_kmip_request *req, bool with_id)
{
	item_close(req);
	sk_ttlv_begin(&req->enc, KMIP_TAG_BATCH_ITEM);
	sk_ttlv_put_enum(&req->enc, KMIP_TAG_OPERATION, req->op);
	if (with_id)
		put_item_id(req, req->items);
	sk_ttlv_begin(&req->enc, KMIP_TAG_REQUEST_PAYLOAD);
	req->items++;
	req->item_open = true;
}

int sk_kmip_request_begin(struct sk_kmip_request *req, struct sk_kmip_version version,
			  enum kmip_operation op)
{
	int r = request_open(req, version, op, 1);

	if (r == 0)
		item_open(req, false);
	return r;
}

int sk_kmip_request_begin_batch(struct sk_kmip_request *req, struct sk_kmip_version version,
				enum kmip_operation op, size_t count)
{
	if (count < 1 || count > SK_KMIP_BATCH_MAX) {
		sk_err("internal error: a KMIP batch of %zu items", count);
		return -EINVAL;
	}
	return request_open(req, version, op, count);
}

void sk_kmip_request_item(struct sk_kmip_request *req)
{
	item_open(req, true);
}

int sk_kmip_request_finish(struct sk_kmip_request *req)
{
	int r;

	item_close(req);
	sk_ttlv_end(&req->enc); /* message */
	r = sk_ttlv_enc_finish(&req->enc);
	if (r < 0)
		sk_err("internal error: KMIP %s request does not fit (%d)",
		       sk_kmip_operation_name(req->op), r);
	return r;
}

void sk_kmip_request_free(struct sk_kmip_request *req)
{
	sk_ttlv_enc_free(&req->enc);
}

static int malformed(const char *server, enum kmip_operation op, const char *why)
{
	sk_err("KMS %s sent a malformed response to %s: %s", server, sk_kmip_operation_name(op),
	       why);
	return -EBADMSG;
}

static void item_message(const struct sk_ttlv_doc *doc, int item, char *buf, size_t size)
{
	if (sk_ttlv_get_text(doc, sk_ttlv_find(doc, item, KMIP_TAG_RESULT_MESSAGE, -1), buf,
			     size) < 0)
		buf[0] = '\0';
}

static uint32_t item_reason(const struct sk_ttlv_doc *doc, int item)
{
	uint32_t reason = 0x100;

	sk_ttlv_get_enum(doc, sk_ttlv_find(doc, item, KMIP_TAG_RESULT_REASON, -1), &reason);
	return reason;
}

static int result_error(struct sk_kmip_response *resp, int item, enum kmip_operation op,
			const char *server)
{
	uint32_t reason = item_reason(&resp->doc, item);
	char message[SK_KMIP_TEXT_MAX];

	item_message(&resp->doc, item, message, sizeof(message));
	/*
	 * The Result Message is a copy of bytes in resp->buf, and the log guard
	 * withholds any line that repeats a live secret: the server's reason
	 * would never be seen. A failed response carries no key, so drop the
	 * buffer (and the items into it) before logging.
	 */
	sk_secret_free(resp->buf);
	resp->buf = NULL;
	resp->doc.count = 0;
	sk_err("KMS %s refused %s: %s%s%s", server, sk_kmip_operation_name(op),
	       sk_kmip_reason_name(reason), message[0] ? ": " : "", message);
	return sk_kmip_reason_errno(reason);
}

/* Decode @resp->buf as a Response Message; its Batch Count in @count. */
static int decode_message(struct sk_kmip_response *resp, enum kmip_operation op,
			  const char *server, int32_t *count)
{
	struct sk_ttlv_doc *doc = &resp->doc;
	const char *why;
	int header;

	resp->payload = -1;
	doc->cap = SK_KMIP_MAX_ITEMS;
	doc->items = calloc(doc->cap, sizeof(*doc->items));
	if (!doc->items)
		return -ENOMEM;
	if (sk_ttlv_decode(resp->buf->data, resp->buf->len, doc, &why) < 0)
		return malformed(server, op, why);
	if (doc->items[0].tag != KMIP_TAG_RESPONSE_MESSAGE || doc->items[0].type != SK_TTLV_STRUCT)
		return malformed(server, op, "not a Response Message");
	header = sk_ttlv_find(doc, 0, KMIP_TAG_RESPONSE_HEADER, -1);
	if (sk_ttlv_get_int(doc, sk_ttlv_find(doc, header, KMIP_TAG_BATCH_COUNT, -1), count) < 0)
		return malformed(server, op, "no batch count");
	return 0;
}

/* The Result Status of batch item @item, which must answer @op. */
static int item_status(const struct sk_ttlv_doc *doc, int item, enum kmip_operation op,
		       uint32_t *status, const char **why)
{
	uint32_t echoed;

	if (sk_ttlv_get_enum(doc, sk_ttlv_find(doc, item, KMIP_TAG_OPERATION, -1), &echoed) == 0 &&
	    echoed != op) {
		*why = "it answers another operation";
		return -EBADMSG;
	}
	if (sk_ttlv_get_enum(doc, sk_ttlv_find(doc, item, KMIP_TAG_RESULT_STATUS, -1), status) < 0) {
		*why = "no result status";
		return -EBADMSG;
	}
	return 0;
}

int sk_kmip_response_parse(struct sk_kmip_response *resp, enum kmip_operation op,
			   const char *server)
{
	struct sk_ttlv_doc *doc = &resp->doc;
	const char *why;
	int32_t count;
	uint32_t status;
	int item, r = decode_message(resp, op, server, &count);

	if (r < 0)
		return r;
	if (count != 1)
		return malformed(server, op, "batch count is not 1");
	item = sk_ttlv_find(doc, 0, KMIP_TAG_BATCH_ITEM, -1);
	if (item < 0 || sk_ttlv_find(doc, 0, KMIP_TAG_BATCH_ITEM, item) >= 0)
		return malformed(server, op, "not exactly one batch item");
	if (item_status(doc, item, op, &status, &why) < 0)
		return malformed(server, op, why);
	if (status != KMIP_STATUS_SUCCESS)
		return result_error(resp, item, op, server);
	resp->payload = sk_ttlv_find(doc, item, KMIP_TAG_RESPONSE_PAYLOAD, -1);
	return 0;
}

/* The index a batch item's Unique Batch Item ID gives back, or -1. */
static long item_index(const struct sk_ttlv_doc *doc, int item, size_t count)
{
	const unsigned char *id;
	size_t len;
	unsigned long index;

	if (sk_ttlv_get_bytes(doc, sk_ttlv_find(doc, item, KMIP_TAG_UNIQUE_BATCH_ITEM_ID, -1), &id,
			      &len) < 0 || len != 4)
		return -1;
	index = (unsigned long)id[0] << 24 | (unsigned long)id[1] << 16 |
		(unsigned long)id[2] << 8 | id[3];
	return index < count ? (long)index : -1;
}

static int batch_item(struct sk_kmip_response *resp, int item, enum kmip_operation op,
		      size_t count, struct sk_kmip_item_result *results, const char **why)
{
	const struct sk_ttlv_doc *doc = &resp->doc;
	long index = item_index(doc, item, count);
	struct sk_kmip_item_result *res;
	uint32_t status;

	if (index < 0 || results[index].item >= 0) {
		*why = "a batch item with an unknown or repeated Unique Batch Item ID";
		return -EBADMSG;
	}
	res = &results[index];
	if (item_status(doc, item, op, &status, why) < 0)
		return -EBADMSG;
	res->item = item;
	if (status == KMIP_STATUS_SUCCESS) {
		res->payload = sk_ttlv_find(doc, item, KMIP_TAG_RESPONSE_PAYLOAD, -1);
		res->r = 0;
	} else {
		res->reason = item_reason(doc, item);
		res->r = sk_kmip_reason_errno(res->reason);
	}
	return 0;
}

int sk_kmip_response_parse_batch(struct sk_kmip_response *resp, enum kmip_operation op,
				 const char *server, size_t count,
				 struct sk_kmip_item_result *results)
{
	const char *why = NULL;
	int32_t announced;
	int item = -1, r = decode_message(resp, op, server, &announced);

	for (size_t i = 0; i < count; i++)
		results[i] = (struct sk_kmip_item_result){ .item = -1, .payload = -1, .r = -EIO };
	if (r < 0)
		return r;
	/* A server without batches answers the whole message once, with no item IDs. */
	if (announced != (int32_t)count)
		return -EOPNOTSUPP;
	while (!why && (item = sk_ttlv_find(&resp->doc, 0, KMIP_TAG_BATCH_ITEM, item)) >= 0)
		r = batch_item(resp, item, op, count, results, &why);
	if (why)
		return malformed(server, op, why);
	for (size_t i = 0; i < count; i++)
		if (results[i].item < 0)
			return malformed(server, op, "a batch item is not answered");
	return r;
}

void sk_kmip_item_message(const struct sk_kmip_response *resp,
			  const struct sk_kmip_item_result *result, char *buf, size_t size)
{
	item_message(&resp->doc, result->item, buf, size);
}

void sk_kmip_response_free(struct sk_kmip_response *resp)
{
	sk_secret_free(resp->buf);
	free(resp->doc.items);
	*resp = (struct sk_kmip_response){ .payload = -1 };
}
