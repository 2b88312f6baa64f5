/*
 * The KMIP transport: TCP with a connect timeout, TLS 1.2+ with the
 * configured CA as the only trust anchor, the server's name or IP address
 * checked against its certificate, and our certificate and identity key
 * for mutual authentication. The socket stays non-blocking and every wait
 * is a poll against one deadline for the whole connection (connect,
 * handshake, requests, responses), so a server that stalls or trickles its
 * answer a byte at a time cannot hang a boot.
 */
#include "config.h"

#include "kmip.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "kmip_msg.h"
#include "log.h"

struct sk_kmip_conn {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	struct sk_kmip_version version;
	long long deadline_ms; /* CLOCK_MONOTONIC */
	bool broken;	       /* a fatal TLS error: no close_notify then */
	char name[270];
};

/*
 * OpenSSL writes to the socket with write(): a server that reset the
 * connection would raise SIGPIPE and kill the process, cryptsetup itself
 * when the plugin runs. SIGPIPE is blocked in this thread around the TLS
 * calls and one it raised is taken back; the process's signal handling is
 * left alone.
 */
struct sigpipe_guard {
	sigset_t old_mask;
	bool was_pending;
};

static bool sigpipe_pending(void)
{
	sigset_t pending;

	return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t pipe_only;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old_mask);
	g->was_pending = sigpipe_pending();
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	static const struct timespec no_wait = { 0, 0 };
	sigset_t pipe_only;

	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	if (!g->was_pending && sigpipe_pending())
		while (sigtimedwait(&pipe_only, NULL, &no_wait) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
}

long long sk_kmip_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long now_ms(void)
{
	return sk_kmip_clock_ms();
}

static int left_ms(long long deadline_ms)
{
	long long left = deadline_ms - now_ms();

	return left < 0 ? 0 : left > 600000 ? 600000 : (int)left;
}

/* Wait until @fd is ready for @events or the deadline passes (-ETIMEDOUT). */
static int wait_fd(int fd, short events, long long deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&pfd, 1, left_ms(deadline_ms));
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	return r < 0 ? -errno : 0;
}

int sk_kmip_parse_url(const char *url, struct sk_kmip_endpoint *ep)
{
	const char *host = url, *end, *port = NULL;
	size_t host_len;

	if (!strncmp(url, "kmip://", 7))
		host = url + 7;
	if (*host == '[') {
		end = strchr(++host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return -EINVAL;
		port = end[1] ? end + 2 : NULL;
	} else {
		end = strchr(host, ':');
		port = end ? end + 1 : NULL;
		end = end ? end : host + strlen(host);
	}
	host_len = (size_t)(end - host);
	if (!host_len || host_len >= sizeof(ep->host) || strchr(host, '/'))
		return -EINVAL;
	memcpy(ep->host, host, host_len);
	ep->host[host_len] = '\0';
	if (!port)
		port = SK_KMIP_DEFAULT_PORT;
	if (!*port || strlen(port) >= sizeof(ep->port) || strspn(port, "0123456789") != strlen(port) ||
	    atoi(port) < 1 || atoi(port) > 65535)
		return -EINVAL;
	strcpy(ep->port, port);
	return 0;
}

static int wait_connected(int fd, long long deadline_ms)
{
	int err = 0, r = wait_fd(fd, POLLOUT, deadline_ms);
	socklen_t len = sizeof(err);

	if (r < 0)
		return r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return err ? -err : 0;
}

static int try_address(const struct addrinfo *ai, long long deadline_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	int r = 0, one = 1;

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		r = errno == EINPROGRESS ? wait_connected(fd, deadline_ms) : -errno;
	/* Each TLS flight and request is one write: no Nagle wait behind a delayed ACK. */
	if (r == 0 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

/* A name lookup that glibc's resolver thread may still be writing into. */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[sizeof(((struct sk_kmip_endpoint *)0)->host)];
	char port[sizeof(((struct sk_kmip_endpoint *)0)->port)];
};

/* Wait for @lk until the deadline; EAI_INPROGRESS when it passed first. */
static int lookup_wait(struct lookup *lk, long long deadline_ms)
{
	const struct gaicb *list[1] = { &lk->cb };
	int r, left;

	while ((r = gai_error(&lk->cb)) == EAI_INPROGRESS && (left = left_ms(deadline_ms)) > 0) {
		struct timespec wait = { left / 1000, (left % 1000) * 1000000L };

		gai_suspend(list, 1, &wait);
	}
	return r;
}

/*
 * getaddrinfo() waits for name servers as long as resolv.conf lets it (5 s a
 * try, twice, for each server), past any deadline of ours: a boot would hang
 * on an unanswered query. getaddrinfo_a resolves in glibc's helper thread and
 * this waits for it until the deadline only. A lookup that is already running
 * cannot be cancelled and writes its answer into its request when it ends,
 * so that request (a few hundred bytes) is left to it.
 */
static int resolve(const struct sk_kmip_endpoint *ep, long long deadline_ms, const char *name,
		   struct addrinfo **list)
{
	const struct addrinfo numeric = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct gaicb *reqs[1];
	struct lookup *lk;
	int r;

	if (getaddrinfo(ep->host, ep->port, &numeric, list) == 0)
		return 0;
	lk = calloc(1, sizeof(*lk));
	if (!lk)
		return -ENOMEM;
	memcpy(lk->host, ep->host, sizeof(lk->host));
	memcpy(lk->port, ep->port, sizeof(lk->port));
	lk->hints.ai_socktype = SOCK_STREAM;
	lk->cb = (struct gaicb){ .ar_name = lk->host, .ar_service = lk->port,
				 .ar_request = &lk->hints };
	reqs[0] = &lk->cb;
	r = getaddrinfo_a(GAI_NOWAIT, reqs, 1, NULL);
	if (!r)
		r = lookup_wait(lk, deadline_ms);
	if (r == EAI_INPROGRESS) {
		sk_err("KMS %s: cannot resolve the host: no answer before the deadline", name);
		if (gai_cancel(&lk->cb) != EAI_NOTCANCELED) {
			if (lk->cb.ar_result)
				freeaddrinfo(lk->cb.ar_result);
			free(lk);
		}
		return -ETIMEDOUT;
	}
	if (r) {
		sk_err("KMS %s: cannot resolve the host: %s", name, gai_strerror(r));
		free(lk);
		return -EHOSTUNREACH;
	}
	*list = lk->cb.ar_result;
	free(lk);
	return 0;
}

static int tcp_connect(const struct sk_kmip_endpoint *ep, long long deadline_ms, const char *name)
{
	struct addrinfo *list, *ai;
	int fd = -EHOSTUNREACH, r;

	r = resolve(ep, deadline_ms, name, &list);
	if (r < 0)
		return r;
	for (ai = list; ai; ai = ai->ai_next) {
		fd = try_address(ai, deadline_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(list);
	if (fd < 0)
		sk_err("KMS %s: cannot connect: %s", name,
		       fd == -ETIMEDOUT ? "timed out" : strerror(-fd));
	return fd;
}

int sk_kmip_probe(const struct sk_kmip_endpoint *ep, int timeout_ms)
{
	char name[sizeof(ep->host) + sizeof(ep->port) + 1];
	int fd;

	snprintf(name, sizeof(name), "%s:%s", ep->host, ep->port);
	fd = tcp_connect(ep, now_ms() + timeout_ms, name);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* The last OpenSSL error as text, or what errno says. */
static const char *tls_reason(char *buf, size_t size)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, size);
	else
		snprintf(buf, size, "%s", errno == EAGAIN ? "timed out" : strerror(errno));
	ERR_clear_error();
	return buf;
}

static SSL_CTX *tls_context(const struct sk_kmip_tls *tls, const char *name)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256];

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	/* A Get response is a volume key: no plaintext copy left in OpenSSL's record buffer. */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL)) {
		sk_err("KMS %s: cannot load the CA certificate %s: %s", name, tls->ca_file,
		       tls_reason(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (!SSL_CTX_use_certificate_chain_file(ctx, tls->cert_file)) {
		sk_err("KMS %s: cannot load the client certificate %s: %s", name, tls->cert_file,
		       tls_reason(why, sizeof(why)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (!SSL_CTX_use_PrivateKey(ctx, tls->key) || !SSL_CTX_check_private_key(ctx)) {
		sk_err("KMS %s: the identity key does not belong to the client certificate %s",
		       name, tls->cert_file);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
fail:
	sk_err("KMS %s: cannot set up TLS: %s", name, tls_reason(why, sizeof(why)));
	SSL_CTX_free(ctx);
	return NULL;
}

static int check_name_param(SSL *ssl, const char *host)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
	return SSL_set1_host(ssl, host) && SSL_set_tlsext_host_name(ssl, host);
}

/*
 * After an SSL call on the non-blocking socket returned @ret: 1 when it is
 * to be called again (the socket is ready now), 0 when it failed for good,
 * -ETIMEDOUT when the connection's deadline passed first.
 */
static int tls_retry(struct sk_kmip_conn *conn, int ret)
{
	int r;

	switch (SSL_get_error(conn->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		r = wait_fd(conn->fd, POLLIN, conn->deadline_ms);
		break;
	case SSL_ERROR_WANT_WRITE:
		r = wait_fd(conn->fd, POLLOUT, conn->deadline_ms);
		break;
	default:
		conn->broken = true;
		return 0;
	}
	if (r < 0)
		conn->broken = true;
	return r < 0 ? r : 1;
}

/* Why an SSL call failed, for a message: after tls_retry returned @r. */
static const char *tls_failure(struct sk_kmip_conn *conn, int ret, int r, char *buf, size_t size)
{
	if (r == -ETIMEDOUT)
		return "timed out";
	if (SSL_get_error(conn->ssl, ret) == SSL_ERROR_ZERO_RETURN)
		return "connection closed";
	return tls_reason(buf, size);
}

static int tls_handshake(struct sk_kmip_conn *conn, const struct sk_kmip_endpoint *ep)
{
	struct sigpipe_guard guard;
	char why[256];
	long verify;
	int ret, r = 0;

	conn->ssl = SSL_new(conn->ctx);
	if (!conn->ssl || !check_name_param(conn->ssl, ep->host) ||
	    !SSL_set_fd(conn->ssl, conn->fd)) {
		sk_err("KMS %s: cannot set up TLS: %s", conn->name, tls_reason(why, sizeof(why)));
		return -ENOMEM;
	}
	sigpipe_block(&guard);
	while ((ret = SSL_connect(conn->ssl)) != 1 && (r = tls_retry(conn, ret)) == 1)
		;
	sigpipe_restore(&guard);
	if (ret == 1)
		return 0;
	verify = SSL_get_verify_result(conn->ssl);
	if (r != -ETIMEDOUT && verify != X509_V_OK) {
		ERR_clear_error();
		sk_err("KMS %s: server certificate refused: %s (check the CA and the server "
		       "name in the configuration)",
		       conn->name, X509_verify_cert_error_string(verify));
		return -EKEYREJECTED;
	}
	sk_err("KMS %s: TLS handshake failed: %s", conn->name,
	       tls_failure(conn, ret, r, why, sizeof(why)));
	return r == -ETIMEDOUT ? r : -ECONNABORTED;
}

void sk_kmip_close(struct sk_kmip_conn *conn)
{
	if (!conn)
		return;
	if (conn->ssl && !conn->broken) {
		struct sigpipe_guard guard;

		sigpipe_block(&guard);
		SSL_shutdown(conn->ssl);
		sigpipe_restore(&guard);
	}
	SSL_free(conn->ssl);
	SSL_CTX_free(conn->ctx);
	if (conn->fd >= 0)
		close(conn->fd);
	ERR_clear_error();
	free(conn);
}

void sk_kmip_set_deadline(struct sk_kmip_conn *conn, const struct sk_kmip_tls *tls)
{
	conn->deadline_ms = now_ms() + tls->timeout_ms;
	if (tls->deadline_ms && tls->deadline_ms < conn->deadline_ms)
		conn->deadline_ms = tls->deadline_ms;
}

/*
 * KMIP is request and response: an idle connection with something to read
 * was closed by the server (its close_notify or FIN) or is out of step.
 */
bool sk_kmip_conn_idle(const struct sk_kmip_conn *conn)
{
	struct pollfd pfd = { .fd = conn->fd, .events = POLLIN };

	return !conn->broken && SSL_pending(conn->ssl) == 0 && poll(&pfd, 1, 0) == 0;
}

bool sk_kmip_conn_broken(const struct sk_kmip_conn *conn)
{
	return conn->broken;
}

struct sk_kmip_version sk_kmip_conn_version(const struct sk_kmip_conn *conn)
{
	return conn->version;
}

const char *sk_kmip_conn_name(const struct sk_kmip_conn *conn)
{
	return conn->name;
}

/*
 * Send @out or fill @in (the other is NULL) with @len bytes before the
 * connection's deadline. SIGPIPE is guarded either way: reading may write
 * too (TLS 1.3 key updates, alerts).
 */
static int transfer(struct sk_kmip_conn *conn, const unsigned char *out, unsigned char *in,
		    size_t len)
{
	struct sigpipe_guard guard;
	size_t done = 0, n;
	char why[256];
	int ret, r = 0;

	sigpipe_block(&guard);
	while (done < len && !r) {
		ret = out ? SSL_write_ex(conn->ssl, out + done, len - done, &n)
			  : SSL_read_ex(conn->ssl, in + done, len - done, &n);
		if (ret == 1) {
			done += n;
			continue;
		}
		r = tls_retry(conn, ret);
		if (r == 1) {
			r = 0;
			continue;
		}
		sk_err("KMS %s: %s: %s", conn->name,
		       out ? "cannot send the request" : "no complete response",
		       tls_failure(conn, ret, r, why, sizeof(why)));
		r = r < 0 ? r : -EIO;
	}
	sigpipe_restore(&guard);
	return r;
}

static int write_all(struct sk_kmip_conn *conn, const unsigned char *buf, size_t len)
{
	return transfer(conn, buf, NULL, len);
}

static int read_all(struct sk_kmip_conn *conn, unsigned char *buf, size_t len)
{
	return transfer(conn, NULL, buf, len);
}

int sk_kmip_roundtrip(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
		      struct sk_kmip_response *resp)
{
	unsigned char header[SK_TTLV_HEADER_LEN];
	long len;
	int r;

	*resp = (struct sk_kmip_response){ .payload = -1 };
	r = write_all(conn, req->enc.buf->data, req->enc.len);
	if (r == 0)
		r = read_all(conn, header, sizeof(header));
	if (r < 0)
		return r;
	len = sk_ttlv_message_len(header);
	if (len < 0) {
		sk_err("KMS %s: response header announces a bad length", conn->name);
		return -EBADMSG;
	}
	resp->buf = sk_secret_new((size_t)len);
	if (!resp->buf)
		return -ENOMEM;
	memcpy(resp->buf->data, header, sizeof(header));
	r = read_all(conn, resp->buf->data + sizeof(header), (size_t)len - sizeof(header));
	if (r < 0)
		sk_kmip_response_free(resp);
	return r;
}

int sk_kmip_exchange(struct sk_kmip_conn *conn, struct sk_kmip_request *req,
		     struct sk_kmip_response *resp)
{
	int r = sk_kmip_request_finish(req);

	if (r == 0)
		r = sk_kmip_roundtrip(conn, req, resp);
	sk_kmip_request_free(req);
	return r;
}

static const struct sk_kmip_version supported[] = { { 2, 0 }, { 1, 4 }, { 1, 3 }, { 1, 2 } };
#define N_SUPPORTED (sizeof(supported) / sizeof(supported[0]))

static bool is_supported(struct sk_kmip_version v)
{
	for (size_t i = 0; i < N_SUPPORTED; i++)
		if (supported[i].major == v.major && supported[i].minor == v.minor)
			return true;
	return false;
}

/* The server's first choice among ours; 1.2 when it cannot tell. */
static int negotiate(struct sk_kmip_conn *conn)
{
	struct sk_kmip_version lowest = supported[N_SUPPORTED - 1];
	struct sk_kmip_response resp;
	struct sk_kmip_request req;
	int item = -1, r;

	conn->version = lowest;
	r = sk_kmip_request_begin(&req, lowest, KMIP_OP_DISCOVER_VERSIONS);
	if (r < 0)
		return r;
	for (size_t i = 0; i < N_SUPPORTED; i++)
		sk_kmip_put_version(&req.enc, supported[i]);
	r = sk_kmip_exchange(conn, &req, &resp);
	if (r < 0)
		return r;
	if (sk_kmip_response_parse(&resp, KMIP_OP_DISCOVER_VERSIONS, conn->name) == 0) {
		while ((item = sk_ttlv_find(&resp.doc, resp.payload, KMIP_TAG_PROTOCOL_VERSION,
					    item)) >= 0) {
			struct sk_kmip_version v;

			if (sk_kmip_read_version(&resp.doc, item, &v) == 0 && is_supported(v)) {
				conn->version = v;
				break;
			}
		}
	}
	sk_kmip_response_free(&resp);
	sk_dbg("KMS %s: using KMIP %d.%d", conn->name, conn->version.major, conn->version.minor);
	return 0;
}

int sk_kmip_connect(const struct sk_kmip_endpoint *ep, const struct sk_kmip_tls *tls,
		    struct sk_kmip_version want, struct sk_kmip_conn **out)
{
	struct sk_kmip_conn *conn = calloc(1, sizeof(*conn));
	int r;

	if (!conn)
		return -ENOMEM;
	conn->fd = -1;
	snprintf(conn->name, sizeof(conn->name), "%s:%s", ep->host, ep->port);
	conn->ctx = tls_context(tls, conn->name);
	if (!conn->ctx) {
		sk_kmip_close(conn);
		return -EINVAL;
	}
	sk_kmip_set_deadline(conn, tls);
	conn->fd = tcp_connect(ep, conn->deadline_ms, conn->name);
	r = conn->fd < 0 ? conn->fd : tls_handshake(conn, ep);
	if (r == 0 && want.major == 0)
		r = negotiate(conn);
	else if (r == 0)
		conn->version = want;
	if (r < 0) {
		sk_kmip_close(conn);
		return r;
	}
	*out = conn;
	return 0;
}
