/*
 * KMIP message framing shared by the operations: one request with one batch
 * item, one response whose single batch item must have succeeded; or a
 * batch of several items of one operation, each answered on its own.
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
	size_t items; /* batch items opened so far */
	bool item_open;
};

/* Opens RequestMessage … RequestPayload; the caller fills the payload. */
int sk_kmip_request_begin(struct sk_kmip_request *req, struct sk_kmip_version version,
			  enum kmip_operation op);
/*
 * A batch of @count items of @op: the header asks the server to go on
 * after an item fails (Batch Error Continuation Option: Continue). Each
 * item is opened by sk_kmip_request_item, which gives it its index as
 * Unique Batch Item ID and opens its payload for the caller.
 */
int sk_kmip_request_begin_batch(struct sk_kmip_request *req, struct sk_kmip_version version,
				enum kmip_operation op, size_t count);
void sk_kmip_request_item(struct sk_kmip_request *req);
/* Closes the open payload and item, and the message. */
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

/* What the server said of one item of a batch. */
struct sk_kmip_item_result {
	int item;	 /* its Batch Item, -1 when the server did not answer it */
	int payload;	 /* ResponsePayload item when it succeeded, else -1 */
	int r;		 /* 0, or the errno of sk_kmip_response_parse */
	uint32_t reason; /* Result Reason of a failed item */
};

/*
 * Decode the answer to a batch of @count items of @op into @results (by
 * Unique Batch Item ID). -EOPNOTSUPP when the server did not answer item
 * by item (it does not take batches: ask again one by one); -EBADMSG when
 * the message is malformed. Failed items are not logged here: their Result
 * Message is in @resp->buf, where the keys of the others are too (see
 * sk_kmip_item_error).
 */
int sk_kmip_response_parse_batch(struct sk_kmip_response *resp, enum kmip_operation op,
				 const char *server, size_t count,
				 struct sk_kmip_item_result *results);
/* Copy the Result Message of a failed batch item ("" when none). */
void sk_kmip_item_message(const struct sk_kmip_response *resp,
			  const struct sk_kmip_item_result *result, char *buf, size_t size);
/* The text of a Result Reason, and the errno it maps to. */
const char *sk_kmip_reason_name(uint32_t reason);
int sk_kmip_reason_errno(uint32_t reason);
void sk_kmip_response_free(struct sk_kmip_response *resp);

void sk_kmip_put_version(struct sk_ttlv_enc *enc, struct sk_kmip_version v);
int sk_kmip_read_version(const struct sk_ttlv_doc *doc, int item, struct sk_kmip_version *v);

const char *sk_kmip_operation_name(enum kmip_operation op);

/* Send @req on @conn and receive the response to it (kmip_tls.c). */
int sk_kmip_roundtrip(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
		      struct sk_kmip_response *resp);
/* Finish @req, send it, receive the response; @req is freed either way. */
int sk_kmip_exchange(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
		     struct sk_kmip_response *resp);

#endif
