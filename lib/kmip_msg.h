/*
 * KMIP message framing shared by the operations: one request with one batch
 * item, one response whose single batch item must have succeeded.
 */
#ifndef SECUREKEY_KMIP_MSG_H
#define SECUREKEY_KMIP_MSG_H

#include "kmip.h"
#include "kmip_tags.h"
#include "kmip_ttlv.h"

#define SK_KMIP_MAX_ITEMS 1024

struct sk_kmip_request {
	struct sk_ttlv_enc enc;
	struct sk_kmip_version version;
	enum kmip_operation op;
};

/* Opens RequestMessage … RequestPayload; the caller fills the payload. */
int sk_kmip_request_begin(struct sk_kmip_request *req, struct sk_kmip_version version,
			  enum kmip_operation op);
/* Closes the payload and the message. */
int sk_kmip_request_finish(struct sk_kmip_request *req);
void sk_kmip_request_free(struct sk_kmip_request *req);

struct sk_kmip_response {
	struct sk_secret *buf; /* the message as received; items point into it */
	struct sk_ttlv_doc doc;
	int payload;           /* ResponsePayload item, -1 when absent */
};

/*
 * Decode @resp->buf and check it answers @op with success. Failures are
 * logged naming @server: malformed (-EBADMSG), or the server's Result
 * Reason and Message (-ENOENT for Item Not Found, -EACCES for Permission
 * Denied or Authentication Not Successful, -EPROTO for the rest).
 */
int sk_kmip_response_parse(struct sk_kmip_response *resp, enum kmip_operation op,
			   const char *server);
void sk_kmip_response_free(struct sk_kmip_response *resp);

void sk_kmip_put_version(struct sk_ttlv_enc *enc, struct sk_kmip_version v);
int sk_kmip_read_version(const struct sk_ttlv_doc *doc, int item, struct sk_kmip_version *v);

const char *sk_kmip_operation_name(enum kmip_operation op);

/* Send @req on @conn and receive the response to it (kmip_tls.c). */
int sk_kmip_roundtrip(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
		      struct sk_kmip_response *resp);

#endif
