/*
 * egress.c - the egress allowlist (config egress.allow) and the policy a
 * command runs under, built from the configuration.
 *
 * An allowlist entry names a destination by literal IP address and port.
 * Nothing here, or anywhere in airlock, resolves a name: a DNS query is
 * itself traffic leaving the boundary (and a channel: data can ride in the
 * query names), it needs UDP sockets the sandbox forbids, and an answer
 * that changes after the operator approved the name would move the
 * destination without anyone editing the config. "localhost" is the one
 * name, and it means 127.0.0.1 without looking anything up.
 */
#include "sandbox/sandbox_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

/* Parses a host (no port, no brackets) into family/addr. */
static status_t parse_host(const char *host, const char *what, int *family,
			   uint8_t addr[16], struct err *e)
{
	struct in_addr a4;
	struct in6_addr a6;
	int letters = 0;

	if (!*host)
		return err_set(e, ST_CONFIG, "%s: empty host", what);
	if (strcasecmp(host, "localhost") == 0) {
		*family = AF_INET;
		memset(addr, 0, 16);
		addr[0] = 127, addr[3] = 1;
		return ST_OK;
	}
	if (inet_pton(AF_INET, host, &a4) == 1) {
		*family = AF_INET;
		memset(addr, 0, 16);
		memcpy(addr, &a4, 4);
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			*family = AF_INET;
			memset(addr, 0, 16);
			memcpy(addr, a6.s6_addr + 12, 4);
		} else {
			*family = AF_INET6;
			memcpy(addr, &a6, 16);
		}
	} else {
		for (const char *c = host; *c; c++)
			letters |= isalpha((unsigned char)*c) && !isxdigit((unsigned char)*c);
		if (letters || strchr(host, '-'))
			return err_set(e, ST_CONFIG,
				       "%s: '%s' is a host name; only literal IP "
				       "addresses or localhost are allowed (airlock "
				       "never makes DNS lookups)", what, host);
		return err_set(e, ST_CONFIG, "%s: '%s' is not an IP address",
			       what, host);
	}
	if (*family == AF_INET) {
		if (addr[0] == 0 && addr[1] == 0 && addr[2] == 0 && addr[3] == 0)
			return err_set(e, ST_CONFIG, "%s: the unspecified address "
				       "0.0.0.0 names no destination", what);
		if (addr[0] >= 224)
			return err_set(e, ST_CONFIG, "%s: '%s' is a multicast or "
				       "broadcast address", what, host);
	} else {
		static const uint8_t zero[16];
		if (memcmp(addr, zero, 16) == 0)
			return err_set(e, ST_CONFIG, "%s: the unspecified address :: "
				       "names no destination", what);
		if (addr[0] == 0xff)
			return err_set(e, ST_CONFIG, "%s: '%s' is a multicast address",
				       what, host);
	}
	return ST_OK;
}

static status_t parse_port(const char *s, const char *what, uint16_t *port,
			   struct err *e)
{
	unsigned long v = 0;
	size_t n = 0;

	for (; s[n]; n++) {
		if (!isdigit((unsigned char)s[n]) || n >= 5)
			return err_set(e, ST_CONFIG, "%s: bad port '%s'", what, s);
		v = v * 10 + (unsigned long)(s[n] - '0');
	}
	if (n == 0)
		return err_set(e, ST_CONFIG, "%s: missing port", what);
	if (v == 0 || v > 65535)
		return err_set(e, ST_CONFIG, "%s: port %lu out of range 1..65535",
			       what, v);
	*port = (uint16_t)v;
	return ST_OK;
}

static void endpoint_text(struct sbx_endpoint *ep)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(ep->family, ep->addr, a, sizeof a);
	if (ep->family == AF_INET6)
		snprintf(ep->text, sizeof ep->text, "[%s]:%u", a, (unsigned)ep->port);
	else
		snprintf(ep->text, sizeof ep->text, "%s:%u", a, (unsigned)ep->port);
}

status_t sbx_endpoint_parse(const char *s, struct sbx_endpoint *out,
			    struct err *e)
{
	char host[80], what[96];
	const char *port, *colon;
	size_t n;
	status_t st;

	memset(out, 0, sizeof *out);
	if (!s)
		return err_set(e, ST_CONFIG, "egress entry: missing");
	snprintf(what, sizeof what, "egress entry '%.64s'", s);
	n = strlen(s);
	if (n == 0)
		return err_set(e, ST_CONFIG, "egress entry: empty");
	if (n >= sizeof host)
		return err_set(e, ST_CONFIG, "%s: too long", what);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return err_set(e, ST_CONFIG, "%s: space or control character",
				       what);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close)
			return err_set(e, ST_CONFIG, "%s: missing ']'", what);
		if (close[1] != ':')
			return err_set(e, ST_CONFIG, "%s: expected ':PORT' after ']'",
				       what);
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		if (host[0] && !strchr(host, ':'))
			return err_set(e, ST_CONFIG, "%s: brackets are for IPv6 "
				       "addresses", what);
		port = close + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return err_set(e, ST_CONFIG, "%s: expected HOST:PORT", what);
		if (memchr(s, ':', (size_t)(colon - s)))
			return err_set(e, ST_CONFIG, "%s: write IPv6 addresses in "
				       "brackets, [::1]:PORT", what);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
	}
	st = parse_host(host, what, &out->family, out->addr, e);
	if (st == ST_OK)
		st = parse_port(port, what, &out->port, e);
	if (st != ST_OK) {
		memset(out, 0, sizeof *out);
		return st;
	}
	endpoint_text(out);
	return ST_OK;
}

status_t sbx_egress_check(const struct config *cfg, const char *host, int port,
			  struct sockaddr_storage *sa, socklen_t *salen,
			  struct err *e)
{
	struct sbx_endpoint want, ep;
	char h[80], what[128];
	size_t n, i, hl;
	struct err ie;

	if (!host || port < 1 || port > 65535)
		return err_set(e, ST_INVAL, "egress: bad destination");
	hl = strlen(host);
	if (hl >= sizeof h)
		return err_set(e, ST_INVAL, "egress: host too long");
	if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
		memcpy(h, host + 1, hl - 2);
		h[hl - 2] = '\0';
	} else {
		memcpy(h, host, hl + 1);
	}
	snprintf(what, sizeof what, "egress to '%.64s'", host);
	memset(&want, 0, sizeof want);
	err_clear(&ie);
	if (parse_host(h, what, &want.family, want.addr, &ie) != ST_OK)
		return err_set(e, ST_INVAL, "%s", ie.msg);
	want.port = (uint16_t)port;
	endpoint_text(&want);

	n = cfg ? config_list_len(cfg, "egress.allow") : 0;
	for (i = 0; i < n; i++) {
		const char *item = config_list_item(cfg, "egress.allow", i);
		err_clear(&ie);
		if (sbx_endpoint_parse(item, &ep, &ie) != ST_OK)
			return err_set(e, ST_CONFIG, "egress.allow[%zu]: %s", i, ie.msg);
		if (ep.family == want.family && ep.port == want.port &&
		    memcmp(ep.addr, want.addr, 16) == 0)
			break;
	}
	if (i == n) {
		LOG_WARN("egress.denied", LF_STR("dest", want.text));
		return err_set(e, ST_DENIED, "egress to %s is not on egress.allow",
			       want.text);
	}
	LOG_DEBUG("egress.allowed", LF_STR("dest", want.text));
	if (sa) {
		memset(sa, 0, sizeof *sa);
		if (want.family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
			s4->sin_family = AF_INET;
			s4->sin_port = htons(want.port);
			memcpy(&s4->sin_addr, want.addr, 4);
			if (salen)
				*salen = sizeof *s4;
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(want.port);
			memcpy(&s6->sin6_addr, want.addr, 16);
			if (salen)
				*salen = sizeof *s6;
		}
	}
	return ST_OK;
}

status_t sbx_policy_from_config(struct sbx_policy *p, const struct config *cfg,
				const char *data_dir, struct err *e)
{
	struct sbx_endpoint ep;
	struct err ie;
	const char *listen, *colon, *model;
	status_t st = ST_OK;
	size_t i, n;

	sbx_policy_init(p);
	p->data_dir = data_dir;
	if (!cfg)
		return ST_OK;

	n = config_list_len(cfg, "sandbox.read_paths");
	for (i = 0; st == ST_OK && i < n; i++)
		st = sbx_policy_add_read(p, config_list_item(cfg, "sandbox.read_paths", i), e);
	model = config_str(cfg, "model.path");
	if (st == ST_OK && model && *model)
		st = sbx_policy_add_read(p, model, e);
	n = config_list_len(cfg, "sandbox.write_paths");
	for (i = 0; st == ST_OK && i < n; i++)
		st = sbx_policy_add_write(p, config_list_item(cfg, "sandbox.write_paths", i), e);

	n = config_list_len(cfg, "egress.allow");
	for (i = 0; st == ST_OK && i < n; i++) {
		err_clear(&ie);
		if (sbx_endpoint_parse(config_list_item(cfg, "egress.allow", i),
				       &ep, &ie) != ST_OK)
			return err_set(e, ST_CONFIG, "egress.allow[%zu]: %s", i, ie.msg);
		st = sbx_policy_add_connect(p, ep.port, e);
	}

	/* The listening port may be bound again (a restart of the listener);
	 * no other. */
	listen = config_str(cfg, "server.listen");
	colon = listen ? strrchr(listen, ':') : NULL;
	if (st == ST_OK && colon) {
		uint16_t port;
		err_clear(&ie);
		if (parse_port(colon + 1, "server.listen", &port, &ie) != ST_OK)
			return err_set(e, ST_CONFIG, "%s", ie.msg);
		st = sbx_policy_add_bind(p, port, e);
	}
	p->allow_unix = config_bool(cfg, "sandbox.allow_unix");
	return st;
}
