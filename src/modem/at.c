// SPDX-License-Identifier: Apache-2.0
/*
 * V.250 command line syntax. A line is copied once into the iterator with
 * spaces removed and letters upper-cased outside quotes; commands are then
 * cut out of that copy in place.
 */
#include "modem/at.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

bool at_iter_init(struct at_iter *it, const char *line, size_t len)
{
	bool quoted = false;
	size_t n = 0;

	if (len > AT_LINE_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == '"')
			quoted = !quoted;
		if (!quoted && (c == ' ' || c == '\t'))
			continue;
		it->buf[n++] = quoted ? (char)c : (char)toupper(c);
	}
	it->buf[n] = '\0';
	it->used = n;
	it->pos = it->buf;
	return true;
}

static bool is_name_char(char c)
{
	return isupper((unsigned char)c) || isdigit((unsigned char)c) ||
	       (c && strchr("!%-./:_", c));
}

static bool parse_decimal(const char **p, long *out)
{
	long v = 0;

	if (!isdigit((unsigned char)**p))
		return false;
	while (isdigit((unsigned char)**p)) {
		if (v > (LONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)toupper((unsigned char)c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A quoted string at *p (on the opening quote). V.250 5.4.2.2: "\HH" is a
 * character given in hex. Decoded in place; the result is NUL-terminated.
 */
static bool parse_string(char **p, const char **out)
{
	char *src = *p + 1, *dst = *p + 1;

	*out = dst;
	while (*src && *src != '"') {
		if (*src == '\\') {
			int hi = hexval(src[1]), lo = hi < 0 ? -1 : hexval(src[2]);

			if (hi < 0 || lo < 0)
				return false;
			*dst++ = (char)(hi << 4 | lo);
			src += 3;
			continue;
		}
		*dst++ = *src++;
	}
	if (*src != '"')
		return false;
	*p = src + 1;
	*dst = '\0';
	return true;
}

static bool token_is_number(const char *s, long *out)
{
	const char *p = s;

	if (!parse_decimal(&p, out))
		return false;
	return *p == '\0';
}

/* Parameters of an extended SET command, up to ';' or the end of the line. */
static int parse_params(char **pp, struct at_cmd *cmd)
{
	char *p = *pp;

	for (;;) {
		struct at_param *prm;
		char sep;

		if (cmd->nparams >= AT_PARAMS_MAX)
			return -EINVAL;
		prm = &cmd->params[cmd->nparams++];
		prm->kind = AT_PARAM_EMPTY;
		prm->str = "";
		if (*p == '"') {
			if (!parse_string(&p, &prm->str))
				return -EINVAL;
			prm->kind = AT_PARAM_STR;
			sep = *p;
			if (sep && sep != ',' && sep != ';')
				return -EINVAL;
		} else {
			char *start = p;

			while (*p && *p != ',' && *p != ';') {
				if (*p == '"')
					return -EINVAL;
				p++;
			}
			sep = *p;
			*p = '\0';
			if (p != start) {
				prm->str = start;
				prm->kind = token_is_number(start, &prm->num) ? AT_PARAM_NUM :
										AT_PARAM_TOKEN;
			}
		}
		if (sep != ',') {
			*pp = sep == ';' ? p + 1 : p;
			return 0;
		}
		p++;
	}
}

static int parse_extended(struct at_iter *it, struct at_cmd *cmd)
{
	char *p = (char *)it->pos;
	size_t n = 0;

	cmd->name[n++] = *p++;
	while (is_name_char(*p)) {
		if (n >= AT_NAME_MAX - 1)
			return -EINVAL;
		cmd->name[n++] = *p++;
	}
	cmd->name[n] = '\0';
	if (n < 2)
		return -EINVAL;
	if (p[0] == '=' && p[1] == '?') {
		cmd->type = AT_TEST;
		p += 2;
	} else if (p[0] == '?') {
		cmd->type = AT_READ;
		p++;
	} else if (p[0] == '=') {
		cmd->type = AT_SET;
		p++;
		if (parse_params(&p, cmd) < 0)
			return -EINVAL;
		it->pos = p;
		return 1;
	} else {
		cmd->type = AT_EXEC;
	}
	if (*p == ';')
		p++;
	else if (*p != '\0')
		return -EINVAL;
	it->pos = p;
	return 1;
}

static int parse_basic(struct at_iter *it, struct at_cmd *cmd)
{
	const char *p = it->pos;
	size_t n = 0;
	long v;

	if (*p == '&') {
		cmd->name[n++] = *p++;
		if (!isupper((unsigned char)*p))
			return -EINVAL;
	}
	cmd->name[n++] = *p++;
	cmd->name[n] = '\0';
	if (strcmp(cmd->name, "S") == 0) {
		long idx;

		if (!parse_decimal(&p, &idx) || idx > 255)
			return -EINVAL;
		cmd->index = (int)idx;
		if (*p == '?') {
			cmd->type = AT_READ;
			p++;
		} else if (*p == '=') {
			p++;
			cmd->type = AT_SET;
			cmd->nparams = 1;
			cmd->params[0].kind = AT_PARAM_NUM;
			if (!parse_decimal(&p, &cmd->params[0].num))
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	} else if (parse_decimal(&p, &v)) {
		cmd->type = AT_SET;
		cmd->nparams = 1;
		cmd->params[0].kind = AT_PARAM_NUM;
		cmd->params[0].num = v;
	} else if (*p == '?' && cmd->name[0] != '&') {
		cmd->type = AT_READ;
		p++;
	} else {
		cmd->type = AT_EXEC;
	}
	it->pos = p;
	return 1;
}

int at_iter_next(struct at_iter *it, struct at_cmd *cmd)
{
	char c;

	memset(cmd, 0, sizeof(*cmd));
	cmd->index = -1;
	while (*it->pos == ';')
		it->pos++;
	c = *it->pos;
	if (c == '\0')
		return 0;
	if (c == '+' || c == '^' || c == '$' || c == '%' || c == '*')
		return parse_extended(it, cmd);
	if (c == 'D') {
		/* The dial string runs to the end of the line (V.250 6.3.1). */
		cmd->name[0] = 'D';
		cmd->type = AT_EXEC;
		cmd->nparams = 1;
		cmd->params[0].kind = AT_PARAM_TOKEN;
		cmd->params[0].str = it->pos + 1;
		it->pos += strlen(it->pos);
		return 1;
	}
	if (isupper((unsigned char)c) || c == '&')
		return parse_basic(it, cmd);
	return -EINVAL;
}

bool at_param_num(const struct at_cmd *cmd, int i, long *out)
{
	if (i >= cmd->nparams || cmd->params[i].kind != AT_PARAM_NUM)
		return false;
	*out = cmd->params[i].num;
	return true;
}

bool at_param_str(const struct at_cmd *cmd, int i, const char **out)
{
	if (i >= cmd->nparams || cmd->params[i].kind != AT_PARAM_STR)
		return false;
	*out = cmd->params[i].str;
	return true;
}

bool at_param_omitted(const struct at_cmd *cmd, int i)
{
	return i >= cmd->nparams || cmd->params[i].kind == AT_PARAM_EMPTY;
}

void at_reader_init(struct at_reader *r)
{
	memset(r, 0, sizeof(*r));
}

bool at_reader_byte(struct at_reader *r, uint8_t c, uint8_t s3, uint8_t s5, enum at_line_kind *kind,
		    const char **line, size_t *len)
{
	if (!r->in_line) {
		if (r->have_a) {
			r->have_a = false;
			if (c == 'T' || c == 't') {
				r->in_line = true;
				r->len = 0;
				r->overlong = false;
				return false;
			}
			if (c == '/') {
				if (!r->have_last)
					return false;
				*kind = AT_LINE_REPEAT;
				*line = r->last;
				*len = r->last_len;
				return true;
			}
		}
		if (c == 'A' || c == 'a')
			r->have_a = true;
		return false;
	}
	if (c == s3) {
		r->in_line = false;
		if (r->overlong) {
			*kind = AT_LINE_OVERLONG;
			*line = "";
			*len = 0;
			return true;
		}
		r->line[r->len] = '\0';
		memcpy(r->last, r->line, r->len + 1);
		r->last_len = r->len;
		r->have_last = true;
		*kind = AT_LINE_COMMAND;
		*line = r->line;
		*len = r->len;
		return true;
	}
	if (c == s5) {
		if (r->len > 0 && !r->overlong)
			r->len--;
		return false;
	}
	/* Other control characters are ignored (V.250 5.2.2). */
	if (c < 0x20 || c == 0x7f)
		return false;
	if (r->len >= AT_LINE_MAX) {
		r->overlong = true;
		return false;
	}
	r->line[r->len++] = (char)c;
	return false;
}
