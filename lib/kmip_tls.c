/*
 * The KMIP transport: TCP with a connect timeout, TLS 1.2+ with the
 * configured CA as the only trust anchor, the server's name or IP address
 * checked against its certificate, and our certificate and identity key
 * for mutual authentication. Reads and writes time out too, so a server
 * that accepts and then stalls cannot hang a boot.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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
	char name[270];
};

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

static int wait_connected(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0, r;
	socklen_t len = sizeof(err);

	do
		r = poll(&pfd, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return err ? -err : 0;
}

static int set_io_timeouts(int fd, int timeout_ms)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	int flags = fcntl(fd, F_GETFL), one = 1;

	/* Each TLS flight and request is one write: no Nagle wait behind a delayed ACK. */
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int try_address(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0)
		r = errno == EINPROGRESS ? wait_connected(fd, timeout_ms) : -errno;
	if (r == 0)
		r = set_io_timeouts(fd, timeout_ms);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static int tcp_connect(const struct sk_kmip_endpoint *ep, int timeout_ms, const char *name)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list, *ai;
	int fd = -EHOSTUNREACH, r;

	r = getaddrinfo(ep->host, ep->port, &hints, &list);
	if (r) {
		sk_err("KMS %s: cannot resolve the host: %s", name, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	for (ai = list; ai; ai = ai->ai_next) {
		fd = try_address(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(list);
	if (fd < 0)
		sk_err("KMS %s: cannot connect: %s", name,
		       fd == -ETIMEDOUT ? "timed out" : strerror(-fd));
	return fd;
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

static int tls_handshake(struct sk_kmip_conn *conn, const struct sk_kmip_endpoint *ep)
{
	char why[256];
	long verify;

	conn->ssl = SSL_new(conn->ctx);
	if (!conn->ssl || !check_name_param(conn->ssl, ep->host) ||
	    !SSL_set_fd(conn->ssl, conn->fd)) {
		sk_err("KMS %s: cannot set up TLS: %s", conn->name, tls_reason(why, sizeof(why)));
		return -ENOMEM;
	}
	if (SSL_connect(conn->ssl) == 1)
		return 0;
	verify = SSL_get_verify_result(conn->ssl);
	if (verify != X509_V_OK) {
		ERR_clear_error();
		sk_err("KMS %s: server certificate refused: %s (check the CA and the server "
		       "name in the configuration)",
		       conn->name, X509_verify_cert_error_string(verify));
		return -EKEYREJECTED;
	}
	sk_err("KMS %s: TLS handshake failed: %s", conn->name, tls_reason(why, sizeof(why)));
	return -ECONNABORTED;
}

void sk_kmip_close(struct sk_kmip_conn *conn)
{
	if (!conn)
		return;
	if (conn->ssl) {
		SSL_shutdown(conn->ssl);
		SSL_free(conn->ssl);
	}
	SSL_CTX_free(conn->ctx);
	if (conn->fd >= 0)
		close(conn->fd);
	ERR_clear_error();
	free(conn);
}

struct sk_kmip_version sk_kmip_conn_version(const struct sk_kmip_conn *conn)
{
	return conn->version;
}

const char *sk_kmip_conn_name(const struct sk_kmip_conn *conn)
{
	return conn->name;
}

static int write_all(struct sk_kmip_conn *conn, const unsigned char *buf, size_t len)
{
	size_t done;
	char why[256];

	if (SSL_write_ex(conn->ssl, buf, len, &done) == 1 && done == len)
		return 0;
	sk_err("KMS %s: cannot send the request: %s", conn->name, tls_reason(why, sizeof(why)));
	return -EIO;
}

static int read_all(struct sk_kmip_conn *conn, unsigned char *buf, size_t len)
{
	size_t got, done = 0;
	char why[256];

	while (done < len) {
		if (SSL_read_ex(conn->ssl, buf + done, len - done, &got) != 1) {
			int timed_out = errno == EAGAIN;

			sk_err("KMS %s: no complete response: %s", conn->name,
			       SSL_get_error(conn->ssl, 0) == SSL_ERROR_ZERO_RETURN
				       ? "connection closed"
				       : tls_reason(why, sizeof(why)));
			return timed_out ? -ETIMEDOUT : -EIO;
		}
		done += got;
	}
	return 0;
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
	r = sk_kmip_request_finish(&req);
	if (r == 0)
		r = sk_kmip_roundtrip(conn, &req, &resp);
	sk_kmip_request_free(&req);
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
	conn->fd = tcp_connect(ep, tls->timeout_ms, conn->name);
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
