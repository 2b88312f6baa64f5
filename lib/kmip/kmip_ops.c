/*
 * KMIP operations. KMIP 1.x carries attributes as Attribute{Name, Value}
 * (inside a Template-Attribute for Create/Register); 2.0 puts each attribute
 * under its own tag inside one Attributes structure. The helpers below hide
 * that difference so each operation is written once.
 */
#include "config.h"

#include "kmip.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kmip_msg.h"
#include "log.h"

static bool is_v2(const struct sk_kmip_request *req)
{
	return req->version.major >= 2;
}

static void attrs_begin(struct sk_kmip_request *req, bool template)
{
	if (is_v2(req))
		sk_ttlv_begin(&req->enc, KMIP_TAG_ATTRIBUTES);
	else if (template)
		sk_ttlv_begin(&req->enc, KMIP_TAG_TEMPLATE_ATTRIBUTE);
}

static void attrs_end(struct sk_kmip_request *req, bool template)
{
	if (is_v2(req) || template)
		sk_ttlv_end(&req->enc);
}

/* Opens where the attribute's value goes; closed by attr_close(). */
static void attr_open(struct sk_kmip_request *req, const char *name)
{
	if (is_v2(req))
		return;
	sk_ttlv_begin(&req->enc, KMIP_TAG_ATTRIBUTE);
	sk_ttlv_put_text(&req->enc, KMIP_TAG_ATTRIBUTE_NAME, name);
}

static void attr_close(struct sk_kmip_request *req)
{
	if (!is_v2(req))
		sk_ttlv_end(&req->enc);
}

/* 1.x: the value sits under Attribute Value; 2.0: under the attribute's tag. */
static uint32_t value_tag(const struct sk_kmip_request *req, uint32_t tag)
{
	return is_v2(req) ? tag : KMIP_TAG_ATTRIBUTE_VALUE;
}

static void attr_enum(struct sk_kmip_request *req, uint32_t tag, const char *name, uint32_t v)
{
	attr_open(req, name);
	sk_ttlv_put_enum(&req->enc, value_tag(req, tag), v);
	attr_close(req);
}

static void attr_int(struct sk_kmip_request *req, uint32_t tag, const char *name, int32_t v)
{
	attr_open(req, name);
	sk_ttlv_put_int(&req->enc, value_tag(req, tag), v);
	attr_close(req);
}

static void attr_name(struct sk_kmip_request *req, const char *name)
{
	attr_open(req, "Name");
	sk_ttlv_begin(&req->enc, value_tag(req, KMIP_TAG_NAME));
	sk_ttlv_put_text(&req->enc, KMIP_TAG_NAME_VALUE, name);
	sk_ttlv_put_enum(&req->enc, KMIP_TAG_NAME_TYPE, KMIP_NAME_UNINTERPRETED_TEXT);
	sk_ttlv_end(&req->enc);
	attr_close(req);
}

static void attr_app_info(struct sk_kmip_request *req, const char *ns, const char *data)
{
	attr_open(req, "Application Specific Information");
	sk_ttlv_begin(&req->enc, value_tag(req, KMIP_TAG_APPLICATION_SPECIFIC_INFORMATION));
	sk_ttlv_put_text(&req->enc, KMIP_TAG_APPLICATION_NAMESPACE, ns);
	sk_ttlv_put_text(&req->enc, KMIP_TAG_APPLICATION_DATA, data);
	sk_ttlv_end(&req->enc);
	attr_close(req);
}

static void aes_attrs(struct sk_kmip_request *req, unsigned bits, const char *name)
{
	attr_enum(req, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, "Cryptographic Algorithm",
		  KMIP_ALGORITHM_AES);
	attr_int(req, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, "Cryptographic Length", (int32_t)bits);
	attr_int(req, KMIP_TAG_CRYPTOGRAPHIC_USAGE_MASK, "Cryptographic Usage Mask",
		 KMIP_USAGE_ENCRYPT | KMIP_USAGE_DECRYPT);
	attr_name(req, name);
}

/* Send, receive, check; @resp is valid on success only. */
static int transact(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
		    struct sk_kmip_response *resp)
{
	int r = sk_kmip_exchange(conn, req, resp);

	if (r < 0)
		return r;
	r = sk_kmip_response_parse(resp, req->op, sk_kmip_conn_name(conn));
	if (r < 0)
		sk_kmip_response_free(resp);
	return r;
}

static int payload_uid(struct sk_kmip_conn *conn, struct sk_kmip_response *resp,
		       char uid[SK_KMIP_UID_MAX])
{
	int item = sk_ttlv_find(&resp->doc, resp->payload, KMIP_TAG_UNIQUE_IDENTIFIER, -1);

	if (sk_ttlv_get_text(&resp->doc, item, uid, SK_KMIP_UID_MAX) < 0 || !uid[0]) {
		sk_err("KMS %s sent no usable unique identifier", sk_kmip_conn_name(conn));
		return -EBADMSG;
	}
	return 0;
}

/* For Register and Create: the identifier the server gave the new object. */
static int transact_uid(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
			char uid[SK_KMIP_UID_MAX])
{
	struct sk_kmip_response resp;
	int r = transact(conn, req, &resp);

	if (r < 0)
		return r;
	r = payload_uid(conn, &resp, uid);
	sk_kmip_response_free(&resp);
	return r;
}

static int uid_only(struct sk_kmip_conn *conn, enum kmip_operation op, const char *uid,
		    struct sk_kmip_response *resp)
{
	struct sk_kmip_request req;
	int r = sk_kmip_request_begin(&req, sk_kmip_conn_version(conn), op);

	if (r < 0)
		return r;
	sk_ttlv_put_text(&req.enc, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	return transact(conn, &req, resp);
}

int sk_kmip_register_aes(struct sk_kmip_conn *conn, const struct sk_secret *key,
			 const char *name, const char *app_namespace, const char *app_data,
			 char uid[SK_KMIP_UID_MAX])
{
	struct sk_kmip_request req;
	int r = sk_kmip_request_begin(&req, sk_kmip_conn_version(conn), KMIP_OP_REGISTER);

	if (r < 0)
		return r;
	sk_ttlv_put_enum(&req.enc, KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_SYMMETRIC_KEY);
	attrs_begin(&req, true);
	aes_attrs(&req, (unsigned)key->len * 8, name);
	attr_app_info(&req, app_namespace, app_data);
	attrs_end(&req, true);
	sk_ttlv_begin(&req.enc, KMIP_TAG_SYMMETRIC_KEY);
	sk_ttlv_begin(&req.enc, KMIP_TAG_KEY_BLOCK);
	sk_ttlv_put_enum(&req.enc, KMIP_TAG_KEY_FORMAT_TYPE, KMIP_KEY_FORMAT_RAW);
	sk_ttlv_begin(&req.enc, KMIP_TAG_KEY_VALUE);
	sk_ttlv_put_bytes(&req.enc, KMIP_TAG_KEY_MATERIAL, key->data, key->len);
	sk_ttlv_end(&req.enc);
	sk_ttlv_put_enum(&req.enc, KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM, KMIP_ALGORITHM_AES);
	sk_ttlv_put_int(&req.enc, KMIP_TAG_CRYPTOGRAPHIC_LENGTH, (int32_t)key->len * 8);
	sk_ttlv_end(&req.enc);
	sk_ttlv_end(&req.enc);
	return transact_uid(conn, &req, uid);
}

int sk_kmip_create_aes(struct sk_kmip_conn *conn, unsigned bits, const char *name,
		       char uid[SK_KMIP_UID_MAX])
{
	struct sk_kmip_request req;
	int r = sk_kmip_request_begin(&req, sk_kmip_conn_version(conn), KMIP_OP_CREATE);

	if (r < 0)
		return r;
	sk_ttlv_put_enum(&req.enc, KMIP_TAG_OBJECT_TYPE, KMIP_OBJECT_SYMMETRIC_KEY);
	attrs_begin(&req, true);
	aes_attrs(&req, bits, name);
	attrs_end(&req, true);
	return transact_uid(conn, &req, uid);
}

/* Key Value is a structure for plain keys; a byte string means it is wrapped. */
static int key_material(struct sk_kmip_conn *conn, const struct sk_kmip_response *resp,
			const unsigned char **data, size_t *len)
{
	const struct sk_ttlv_doc *doc = &resp->doc;
	int key = sk_ttlv_find(doc, resp->payload, KMIP_TAG_SYMMETRIC_KEY, -1);
	int block = sk_ttlv_find(doc, key, KMIP_TAG_KEY_BLOCK, -1);
	int value = sk_ttlv_find(doc, block, KMIP_TAG_KEY_VALUE, -1);
	uint32_t format;

	if (key < 0) {
		sk_err("KMS %s returned an object that is not a symmetric key",
		       sk_kmip_conn_name(conn));
		return -EBADMSG;
	}
	if (sk_ttlv_get_enum(doc, sk_ttlv_find(doc, block, KMIP_TAG_KEY_FORMAT_TYPE, -1),
			     &format) < 0 ||
	    format != KMIP_KEY_FORMAT_RAW || value < 0 || doc->items[value].type != SK_TTLV_STRUCT) {
		sk_err("KMS %s returned the key in a format other than Raw", sk_kmip_conn_name(conn));
		return -EBADMSG;
	}
	if (sk_ttlv_get_bytes(doc, sk_ttlv_find(doc, value, KMIP_TAG_KEY_MATERIAL, -1), data,
			      len) < 0 || *len == 0) {
		sk_err("KMS %s returned a key without key material", sk_kmip_conn_name(conn));
		return -EBADMSG;
	}
	return 0;
}

/* The key material of a Get payload as a new secret. */
static int payload_key(struct sk_kmip_conn *conn, struct sk_kmip_response *resp,
		       struct sk_secret **key)
{
	const unsigned char *data;
	size_t len;
	int r = key_material(conn, resp, &data, &len);

	if (r == 0) {
		*key = sk_secret_dup(data, len);
		r = *key ? 0 : -ENOMEM;
	}
	return r;
}

int sk_kmip_get_key(struct sk_kmip_conn *conn, const char *uid, struct sk_secret **key)
{
	struct sk_kmip_response resp;
	int r = uid_only(conn, KMIP_OP_GET, uid, &resp);

	if (r < 0)
		return r;
	r = payload_key(conn, &resp, key);
	sk_kmip_response_free(&resp);
	return r;
}

/* Take the keys of the items that succeeded; keep the others' Result Messages. */
static void batch_keys(struct sk_kmip_conn *conn, struct sk_kmip_response *resp, size_t n,
		       const struct sk_kmip_item_result *res, struct sk_secret **keys,
		       int *results, char (*messages)[SK_KMIP_TEXT_MAX])
{
	for (size_t i = 0; i < n; i++) {
		struct sk_kmip_response one = *resp;

		messages[i][0] = '\0';
		results[i] = res[i].r;
		one.payload = res[i].payload;
		if (res[i].r == 0)
			results[i] = payload_key(conn, &one, &keys[i]);
		else
			sk_kmip_item_message(resp, &res[i], messages[i], SK_KMIP_TEXT_MAX);
	}
}

/*
 * Logged once the response (with the other items' keys) is gone: the
 * guard would withhold a Result Message copied from a live secret.
 */
static void log_refused(struct sk_kmip_conn *conn, const char *const *uids, size_t n,
			const struct sk_kmip_item_result *res, const int *results,
			char (*messages)[SK_KMIP_TEXT_MAX])
{
	for (size_t i = 0; i < n; i++)
		if (res[i].r < 0 && results[i] < 0)
			sk_err("KMS %s refused Get of key %s: %s%s%s", sk_kmip_conn_name(conn),
			       uids[i], sk_kmip_reason_name(res[i].reason),
			       messages[i][0] ? ": " : "", messages[i]);
}

int sk_kmip_get_keys(struct sk_kmip_conn *conn, const char *const *uids, size_t n,
		     struct sk_secret **keys, int *results)
{
	struct sk_kmip_item_result res[SK_KMIP_BATCH_MAX];
	char messages[SK_KMIP_BATCH_MAX][SK_KMIP_TEXT_MAX];
	struct sk_kmip_response resp;
	struct sk_kmip_request req;
	int r = sk_kmip_request_begin_batch(&req, sk_kmip_conn_version(conn), KMIP_OP_GET, n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		keys[i] = NULL;
		sk_kmip_request_item(&req);
		sk_ttlv_put_text(&req.enc, KMIP_TAG_UNIQUE_IDENTIFIER, uids[i]);
	}
	r = sk_kmip_exchange(conn, &req, &resp);
	if (r < 0)
		return r;
	r = sk_kmip_response_parse_batch(&resp, KMIP_OP_GET, sk_kmip_conn_name(conn), n, res);
	if (r == 0)
		batch_keys(conn, &resp, n, res, keys, results, messages);
	sk_kmip_response_free(&resp);
	if (r == 0)
		log_refused(conn, uids, n, res, results, messages);
	return r;
}

int sk_kmip_locate(struct sk_kmip_conn *conn, const char *name, char (*uids)[SK_KMIP_UID_MAX],
		   size_t max, size_t *count)
{
	struct sk_kmip_response resp;
	struct sk_kmip_request req;
	int item = -1, r = sk_kmip_request_begin(&req, sk_kmip_conn_version(conn), KMIP_OP_LOCATE);

	if (r < 0)
		return r;
	sk_ttlv_put_int(&req.enc, KMIP_TAG_MAXIMUM_ITEMS, (int32_t)max);
	attrs_begin(&req, false);
	attr_name(&req, name);
	attrs_end(&req, false);
	r = transact(conn, &req, &resp);
	if (r < 0)
		return r;
	*count = 0;
	while ((item = sk_ttlv_find(&resp.doc, resp.payload, KMIP_TAG_UNIQUE_IDENTIFIER, item)) >= 0) {
		if (*count == max || sk_ttlv_get_text(&resp.doc, item, uids[*count],
						      SK_KMIP_UID_MAX) < 0) {
			r = -EBADMSG;
			sk_err("KMS %s sent a bad Locate result", sk_kmip_conn_name(conn));
			break;
		}
		(*count)++;
	}
	sk_kmip_response_free(&resp);
	return r;
}

/* One attribute found either as Attribute{Name, Value} (1.x) or by tag (2.0). */
static void read_attr(const struct sk_ttlv_doc *doc, uint32_t tag, int value,
		      struct sk_kmip_attrs *attrs)
{
	switch (tag) {
	case KMIP_TAG_NAME:
		sk_ttlv_get_text(doc, sk_ttlv_find(doc, value, KMIP_TAG_NAME_VALUE, -1), attrs->name,
				 sizeof(attrs->name));
		break;
	case KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM:
		sk_ttlv_get_enum(doc, value, &attrs->algorithm);
		break;
	case KMIP_TAG_CRYPTOGRAPHIC_LENGTH:
		sk_ttlv_get_int(doc, value, &attrs->length);
		break;
	case KMIP_TAG_STATE:
		sk_ttlv_get_enum(doc, value, &attrs->state);
		break;
	case KMIP_TAG_APPLICATION_SPECIFIC_INFORMATION:
		sk_ttlv_get_text(doc, sk_ttlv_find(doc, value, KMIP_TAG_APPLICATION_NAMESPACE, -1),
				 attrs->app_namespace, sizeof(attrs->app_namespace));
		sk_ttlv_get_text(doc, sk_ttlv_find(doc, value, KMIP_TAG_APPLICATION_DATA, -1),
				 attrs->app_data, sizeof(attrs->app_data));
		break;
	default:
		break;
	}
}

static const struct {
	const char *name;
	uint32_t tag;
} attr_names[] = {
	{ "Name", KMIP_TAG_NAME },
	{ "Cryptographic Algorithm", KMIP_TAG_CRYPTOGRAPHIC_ALGORITHM },
	{ "Cryptographic Length", KMIP_TAG_CRYPTOGRAPHIC_LENGTH },
	{ "State", KMIP_TAG_STATE },
	{ "Application Specific Information", KMIP_TAG_APPLICATION_SPECIFIC_INFORMATION },
};

static void read_v1_attr(const struct sk_ttlv_doc *doc, int attr, struct sk_kmip_attrs *attrs)
{
	char name[64];

	if (sk_ttlv_get_text(doc, sk_ttlv_find(doc, attr, KMIP_TAG_ATTRIBUTE_NAME, -1), name,
			     sizeof(name)) < 0)
		return;
	for (size_t i = 0; i < sizeof(attr_names) / sizeof(attr_names[0]); i++)
		if (!strcmp(name, attr_names[i].name))
			read_attr(doc, attr_names[i].tag,
				  sk_ttlv_find(doc, attr, KMIP_TAG_ATTRIBUTE_VALUE, -1), attrs);
}

int sk_kmip_get_attributes(struct sk_kmip_conn *conn, const char *uid,
			   struct sk_kmip_attrs *attrs)
{
	struct sk_kmip_response resp;
	const struct sk_ttlv_doc *doc;
	int item = -1, set, r = uid_only(conn, KMIP_OP_GET_ATTRIBUTES, uid, &resp);

	if (r < 0)
		return r;
	*attrs = (struct sk_kmip_attrs){ 0 };
	doc = &resp.doc;
	while ((item = sk_ttlv_find(doc, resp.payload, KMIP_TAG_ATTRIBUTE, item)) >= 0)
		read_v1_attr(doc, item, attrs);
	set = sk_ttlv_find(doc, resp.payload, KMIP_TAG_ATTRIBUTES, -1);
	if (set >= 0)
		for (item = doc->items[set].first_child; item >= 0; item = doc->items[item].next)
			read_attr(doc, doc->items[item].tag, item, attrs);
	sk_kmip_response_free(&resp);
	return 0;
}

static int simple(struct sk_kmip_conn *conn, enum kmip_operation op, const char *uid)
{
	struct sk_kmip_response resp;
	int r = uid_only(conn, op, uid, &resp);

	if (r == 0)
		sk_kmip_response_free(&resp);
	return r;
}

int sk_kmip_activate(struct sk_kmip_conn *conn, const char *uid)
{
	return simple(conn, KMIP_OP_ACTIVATE, uid);
}

int sk_kmip_destroy(struct sk_kmip_conn *conn, const char *uid)
{
	return simple(conn, KMIP_OP_DESTROY, uid);
}

int sk_kmip_revoke(struct sk_kmip_conn *conn, const char *uid)
{
	struct sk_kmip_response resp;
	struct sk_kmip_request req;
	int r = sk_kmip_request_begin(&req, sk_kmip_conn_version(conn), KMIP_OP_REVOKE);

	if (r < 0)
		return r;
	sk_ttlv_put_text(&req.enc, KMIP_TAG_UNIQUE_IDENTIFIER, uid);
	sk_ttlv_begin(&req.enc, KMIP_TAG_REVOCATION_REASON);
	sk_ttlv_put_enum(&req.enc, KMIP_TAG_REVOCATION_REASON_CODE, KMIP_REVOCATION_CESSATION);
	sk_ttlv_end(&req.enc);
	r = transact(conn, &req, &resp);
	if (r == 0)
		sk_kmip_response_free(&resp);
	return r;
}
