#include "config.h"

#include "kmip_msg.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"

/* Requests carry at most one key and a few names. */
#define REQUEST_CAPACITY 4096

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

static const char *reason_name(uint32_t reason)
{
	for (size_t i = 0; i < sizeof(reason_names) / sizeof(reason_names[0]); i++)
		if (reason_names[i].reason == reason)
			return reason_names[i].name;
	return "unknown reason";
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

int sk_kmip_request_begin(struct sk_kmip_request *req, struct sk_kmip_version version,
			  enum kmip_operation op)
{
	int r = sk_ttlv_enc_init(&req->enc, REQUEST_CAPACITY);

	if (r < 0)
		return r;
	req->version = version;
	req->op = op;
	sk_ttlv_begin(&req->enc, KMIP_TAG_REQUEST_MESSAGE);
	sk_ttlv_begin(&req->enc, KMIP_TAG_REQUEST_HEADER);
	sk_kmip_put_version(&req->enc, version);
	sk_ttlv_put_int(&req->enc, KMIP_TAG_BATCH_COUNT, 1);
	sk_ttlv_end(&req->enc);
	sk_ttlv_begin(&req->enc, KMIP_TAG_BATCH_ITEM);
	sk_ttlv_put_enum(&req->enc, KMIP_TAG_OPERATION, op);
	sk_ttlv_begin(&req->enc, KMIP_TAG_REQUEST_PAYLOAD);
	return 0;
}

int sk_kmip_request_finish(struct sk_kmip_request *req)
{
	int r;

	sk_ttlv_end(&req->enc); /* payload */
	sk_ttlv_end(&req->enc); /* batch item */
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

static int result_error(struct sk_kmip_response *resp, int item, enum kmip_operation op,
			const char *server)
{
	const struct sk_ttlv_doc *doc = &resp->doc;
	char message[SK_KMIP_TEXT_MAX] = "";
	uint32_t reason = 0x100;

	sk_ttlv_get_enum(doc, sk_ttlv_find(doc, item, KMIP_TAG_RESULT_REASON, -1), &reason);
	if (sk_ttlv_get_text(doc, sk_ttlv_find(doc, item, KMIP_TAG_RESULT_MESSAGE, -1), message,
			     sizeof(message)) < 0)
		message[0] = '\0';
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
	       reason_name(reason), message[0] ? ": " : "", message);
	if (reason == 0x01)
		return -ENOENT;
	if (reason == 0x03 || reason == 0x0c)
		return -EACCES;
	return -EPROTO;
}

int sk_kmip_response_parse(struct sk_kmip_response *resp, enum kmip_operation op,
			   const char *server)
{
	struct sk_ttlv_doc *doc = &resp->doc;
	const char *why;
	int32_t count;
	uint32_t status, echoed;
	int header, item, r;

	resp->payload = -1;
	doc->cap = SK_KMIP_MAX_ITEMS;
	doc->items = calloc(doc->cap, sizeof(*doc->items));
	if (!doc->items)
		return -ENOMEM;
	r = sk_ttlv_decode(resp->buf->data, resp->buf->len, doc, &why);
	if (r < 0)
		return malformed(server, op, why);
	if (doc->items[0].tag != KMIP_TAG_RESPONSE_MESSAGE || doc->items[0].type != SK_TTLV_STRUCT)
		return malformed(server, op, "not a Response Message");
	header = sk_ttlv_find(doc, 0, KMIP_TAG_RESPONSE_HEADER, -1);
	if (sk_ttlv_get_int(doc, sk_ttlv_find(doc, header, KMIP_TAG_BATCH_COUNT, -1), &count) < 0 ||
	    count != 1)
		return malformed(server, op, "batch count is not 1");
	item = sk_ttlv_find(doc, 0, KMIP_TAG_BATCH_ITEM, -1);
	if (item < 0 || sk_ttlv_find(doc, 0, KMIP_TAG_BATCH_ITEM, item) >= 0)
		return malformed(server, op, "not exactly one batch item");
	if (sk_ttlv_get_enum(doc, sk_ttlv_find(doc, item, KMIP_TAG_OPERATION, -1), &echoed) == 0 &&
	    echoed != op)
		return malformed(server, op, "it answers another operation");
	if (sk_ttlv_get_enum(doc, sk_ttlv_find(doc, item, KMIP_TAG_RESULT_STATUS, -1), &status) < 0)
		return malformed(server, op, "no result status");
	if (status != KMIP_STATUS_SUCCESS)
		return result_error(resp, item, op, server);
	resp->payload = sk_ttlv_find(doc, item, KMIP_TAG_RESPONSE_PAYLOAD, -1);
	return 0;
}

void sk_kmip_response_free(struct sk_kmip_response *resp)
{
	sk_secret_free(resp->buf);
	free(resp->doc.items);
	*resp = (struct sk_kmip_response){ .payload = -1 };
}
