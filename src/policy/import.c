/*
 * import.c - import rules: which libraries code may use.
 *
 * Dependencies are read from import statements in code (C/C++ #include,
 * Python import/from, JavaScript/TypeScript import/require, Go import,
 * Rust use/extern crate, Java import) and from manifests
 * (requirements*.txt, pyproject.toml, package.json, go.mod, Cargo.toml,
 * pom.xml), the latter with the version they name. Extraction is lexical,
 * line by line: it works on partial code as generated mid-stream, and it
 * costs one pass. Each dependency is then judged against the rules of its
 * ecosystem: a deny entry that matches name (and version constraint, when
 * both sides have a version) is a finding; with an allow list, a name no
 * entry matches is a finding ("not approved").
 */
#include "policy/policy_int.h"

#include <ctype.h>
#include <jansson.h>
#include <string.h>

struct dep {
	char name[256];
	char version[64];	/* "" when unknown */
	size_t start, end;	/* span in the text */
};

typedef void (*dep_fn)(struct pol_scan *s, const char *eco, const struct dep *d);

/* ------------------------------------------------------------------ */
/* Versions and constraints                                            */
/* ------------------------------------------------------------------ */

status_t pol__dep_parse(struct arena *a, const char *spec, struct pol_dep *d)
{
	const char *p = spec;
	size_t n;

	while (*p == ' ')
		p++;
	n = strcspn(p, "<>=! ");
	if (!n)
		return ST_CORRUPT;
	d->name = arena_strndup(a, p, n);
	if (!d->name)
		return ST_NOMEM;
	for (char *c = d->name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	p += n;
	while (*p == ' ')
		p++;
	if (!*p)
		return ST_OK;
	n = strspn(p, "<>=!");
	if (n < 1 || n > 2)
		return ST_CORRUPT;
	memcpy(d->op, p, n);
	d->op[n] = 0;
	if (strcmp(d->op, "==") && strcmp(d->op, "!=") && strcmp(d->op, "<") &&
	    strcmp(d->op, "<=") && strcmp(d->op, ">") && strcmp(d->op, ">="))
		return ST_CORRUPT;
	p += n;
	while (*p == ' ')
		p++;
	if (!isdigit((unsigned char)*p))
		return ST_CORRUPT;
	d->version = arena_strdup(a, p);
	return d->version ? ST_OK : ST_NOMEM;
}

/* Compares dotted versions numerically segment by segment. */
static int vcmp(const char *a, const char *b)
{
	while (*a || *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			unsigned long long x = 0, y = 0;
			while (isdigit((unsigned char)*a))
				x = x * 10 + (unsigned)(*a++ - '0');
			while (isdigit((unsigned char)*b))
				y = y * 10 + (unsigned)(*b++ - '0');
			if (x != y)
				return x < y ? -1 : 1;
		} else {
			if (*a == '.' && *b == '.') {
				a++, b++;
				continue;
			}
			if (!*a || *a == '.')
				return isdigit((unsigned char)*b) ? -1 : (*b ? 1 : 0);
			if (!*b || *b == '.')
				return isdigit((unsigned char)*a) ? 1 : -1;
			if (*a != *b)
				return *a < *b ? -1 : 1;
			a++, b++;
		}
	}
	return 0;
}

static int holds(const char *ver, const char *op, const char *want)
{
	int c = vcmp(ver, want);

	if (!strcmp(op, "=="))
		return c == 0;
	if (!strcmp(op, "!="))
		return c != 0;
	if (!strcmp(op, "<"))
		return c < 0;
	if (!strcmp(op, "<="))
		return c <= 0;
	if (!strcmp(op, ">"))
		return c > 0;
	return c >= 0;
}

/* Copies the first version number found in spec ("^1.2.3" -> "1.2.3"). */
static void version_of(const char *spec, size_t n, char *out, size_t cap)
{
	size_t i = 0, k = 0;

	out[0] = 0;
	while (i < n && !isdigit((unsigned char)spec[i])) {
		if (spec[i] == ',' || spec[i] == ';')
			return;
		i++;
	}
	while (i < n && k + 1 < cap &&
	       (isalnum((unsigned char)spec[i]) || spec[i] == '.' || spec[i] == '-' || spec[i] == '+'))
		out[k++] = spec[i++];
	out[k] = 0;
}

static void norm_name(char *s, const char *eco)
{
	for (; *s; s++) {
		*s = (char)tolower((unsigned char)*s);
		if (!strcmp(eco, "python") && *s == '_')
			*s = '-';
	}
}

/* ------------------------------------------------------------------ */
/* Judging one dependency                                              */
/* ------------------------------------------------------------------ */

static void judge(struct pol_scan *s, const char *eco, const struct dep *d)
{
	const struct pol_bundle *b = s->b;
	char name[256], detail[400];

	str_copy(name, d->name, sizeof name);
	norm_name(name, eco);
	for (size_t ri = 0; ri < b->n_rules; ri++) {
		const struct pol_rule *r = &b->rules[ri];
		int found = 0;

		if (r->kind != POL_KIND_IMPORT || !s->eff[ri].on || strcmp(r->ecosystem, eco))
			continue;
		for (size_t i = 0; i < r->n_deny; i++) {
			const struct pol_dep *x = &r->deny[i];
			if (!pol__glob_match(x->name, name))
				continue;
			if (x->version && (!d->version[0] || !holds(d->version, x->op, x->version)))
				continue;
			snprintf(detail, sizeof detail, "%s%s%s is denied (%s%s%s)", d->name,
				 d->version[0] ? " " : "", d->version, x->name, x->op,
				 x->version ? x->version : "");
			pol__add(s, ri, d->start, d->end, d->start, d->end, detail);
			found = 1;
			break;
		}
		if (found || !r->has_allow)
			continue;
		for (size_t i = 0; i < r->n_allow && !found; i++) {
			const struct pol_dep *x = &r->allow[i];
			if (!pol__glob_match(x->name, name))
				continue;
			found = 1;
			if (x->version && d->version[0] && !holds(d->version, x->op, x->version)) {
				snprintf(detail, sizeof detail, "%s %s is not an approved version (%s%s%s)",
					 d->name, d->version, x->name, x->op, x->version);
				pol__add(s, ri, d->start, d->end, d->start, d->end, detail);
			}
		}
		if (!found) {
			snprintf(detail, sizeof detail, "%s%s%s is not on the approved list", d->name,
				 d->version[0] ? " " : "", d->version);
			pol__add(s, ri, d->start, d->end, d->start, d->end, detail);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Extraction from code                                                */
/* ------------------------------------------------------------------ */

static void emit(struct pol_scan *s, const char *eco, const char *p, size_t n,
		 const char *ver, size_t nver)
{
	struct dep d;

	if (!n || n >= sizeof d.name)
		return;
	memcpy(d.name, p, n);
	d.name[n] = 0;
	d.version[0] = 0;
	if (ver)
		version_of(ver, nver, d.version, sizeof d.version);
	d.start = (size_t)(p - s->text);
	d.end = d.start + n;
	judge(s, eco, &d);
}

static int is_id(int c)
{
	return isalnum(c) || c == '_';
}

/* Skips spaces and tabs. */
static const char *sp(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static int word(const char **pp, const char *e, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(e - *pp) < n || memcmp(*pp, w, n) || (*pp + n < e && is_id((unsigned char)(*pp)[n])))
		return 0;
	*pp += n;
	return 1;
}

/* A JS package name from a module specifier: "@scope/name/x" -> "@scope/name". */
static size_t js_pkg(const char *p, size_t n)
{
	size_t i = 0;

	if (!n || p[0] == '.' || p[0] == '/')
		return 0;
	if (p[0] == '@') {
		while (i < n && p[i] != '/')
			i++;
		i++;
	}
	while (i < n && p[i] != '/')
		i++;
	return i > n ? n : i;
}

static void code_line(struct pol_scan *s, const char *eco, const char *p, const char *e,
		      int *go_block)
{
	const char *q;

	p = sp(p, e);
	if (!strcmp(eco, "c")) {
		if (p < e && *p == '#') {
			p = sp(p + 1, e);
			if (word(&p, e, "include") || word(&p, e, "import")) {
				p = sp(p, e);
				if (p < e && (*p == '<' || *p == '"')) {
					char close = *p == '<' ? '>' : '"';
					q = memchr(p + 1, close, (size_t)(e - p - 1));
					if (q)
						emit(s, eco, p + 1, (size_t)(q - p - 1), NULL, 0);
				}
			}
		}
	} else if (!strcmp(eco, "python")) {
		if (word(&p, e, "import")) {
			for (;;) {
				p = sp(p, e);
				q = p;
				while (q < e && is_id((unsigned char)*q))
					q++;
				emit(s, eco, p, (size_t)(q - p), NULL, 0);
				while (q < e && *q != ',' && *q != '#')
					q++;
				if (q >= e || *q != ',')
					break;
				p = q + 1;
			}
		} else if (word(&p, e, "from")) {
			p = sp(p, e);
			q = p;
			while (q < e && is_id((unsigned char)*q))
				q++;
			if (q > p)	/* relative imports ("from . import x") are local */
				emit(s, eco, p, (size_t)(q - p), NULL, 0);
		}
	} else if (!strcmp(eco, "npm")) {
		/* import ... from 'x' | import 'x' | require('x') | import('x') | export ... from 'x' */
		for (const char *c = p; c < e; c++) {
			const char *str = NULL;
			if ((c == p || !is_id((unsigned char)c[-1])) &&
			    ((e - c > 8 && !memcmp(c, "require(", 8) && (str = c + 8)) ||
			     (e - c > 7 && !memcmp(c, "import(", 7) && (str = c + 7)))) {
				str = sp(str, e);
			} else if (e - c > 5 && !memcmp(c, "from", 4) && (c == p || !is_id((unsigned char)c[-1])) &&
				   (c[4] == ' ' || c[4] == '\'' || c[4] == '"')) {
				str = sp(c + 4, e);
			} else if (c == p && e - c > 7 && !memcmp(c, "import", 6) && (c[6] == ' ')) {
				str = sp(c + 6, e);
				if (str >= e || (*str != '\'' && *str != '"'))
					str = NULL;
			}
			if (str && str < e && (*str == '\'' || *str == '"' || *str == '`')) {
				q = memchr(str + 1, *str, (size_t)(e - str - 1));
				if (q)
					emit(s, eco, str + 1, js_pkg(str + 1, (size_t)(q - str - 1)), NULL, 0);
			}
		}
	} else if (!strcmp(eco, "go")) {
		int in = *go_block;
		if (word(&p, e, "import")) {
			p = sp(p, e);
			if (p < e && *p == '(') {
				*go_block = 1;
				p++;
			}
			in = 1;
		}
		if (in) {
			if (*go_block && memchr(p, ')', (size_t)(e - p)))
				*go_block = 0;
			q = memchr(p, '"', (size_t)(e - p));
			if (q) {
				const char *z = memchr(q + 1, '"', (size_t)(e - q - 1));
				if (z)
					emit(s, eco, q + 1, (size_t)(z - q - 1), NULL, 0);
			}
		}
	} else if (!strcmp(eco, "cargo")) {
		if (word(&p, e, "pub"))
			p = sp(p, e);
		if (word(&p, e, "use") || (word(&p, e, "extern") && (p = sp(p, e)) && word(&p, e, "crate"))) {
			size_t n;

			p = sp(p, e);
			if (e - p >= 2 && p[0] == ':' && p[1] == ':')
				p += 2;
			q = p;
			while (q < e && is_id((unsigned char)*q))
				q++;
			n = (size_t)(q - p);
			/* crate::, self::, super:: are this crate, not a dependency. */
			if (n && !(n == 5 && !memcmp(p, "crate", 5)) && !(n == 4 && !memcmp(p, "self", 4)) &&
			    !(n == 5 && !memcmp(p, "super", 5)))
				emit(s, eco, p, (size_t)(q - p), NULL, 0);
		}
	} else if (!strcmp(eco, "maven")) {
		if (word(&p, e, "import")) {
			p = sp(p, e);
			if (word(&p, e, "static"))
				p = sp(p, e);
			q = p;
			while (q < e && (is_id((unsigned char)*q) || *q == '.' || *q == '*'))
				q++;
			emit(s, eco, p, (size_t)(q - p), NULL, 0);
		}
	}
}

static const char *eco_of_lang(const char *lang)
{
	if (!lang)
		return NULL;
	if (!strcmp(lang, "c") || !strcmp(lang, "cpp"))
		return "c";
	if (!strcmp(lang, "python"))
		return "python";
	if (!strcmp(lang, "javascript") || !strcmp(lang, "typescript") || !strcmp(lang, "tsx"))
		return "npm";
	if (!strcmp(lang, "go"))
		return "go";
	if (!strcmp(lang, "rust"))
		return "cargo";
	if (!strcmp(lang, "java"))
		return "maven";
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Manifests                                                           */
/* ------------------------------------------------------------------ */

static void requirements(struct pol_scan *s, const char *p, const char *e)
{
	const char *q;

	p = sp(p, e);
	if (p >= e || *p == '#' || *p == '-' || !isalnum((unsigned char)*p))
		return;
	q = p;
	while (q < e && (isalnum((unsigned char)*q) || *q == '-' || *q == '_' || *q == '.'))
		q++;
	{
		const char *v = q, *ve = memchr(q, '#', (size_t)(e - q));
		emit(s, "python", p, (size_t)(q - p), v, (size_t)((ve ? ve : e) - v));
	}
}

/* One quoted PEP 508 string "name[extra]>=1.2; marker" inside pyproject. */
static void pep508(struct pol_scan *s, const char *p, const char *e)
{
	const char *q = p;

	while (q < e && (isalnum((unsigned char)*q) || *q == '-' || *q == '_' || *q == '.'))
		q++;
	emit(s, "python", p, (size_t)(q - p), q, (size_t)(e - q));
}

/* TOML "name = "1.2"" or "name = { version = "1.2", ... }" lines. */
static void toml_dep(struct pol_scan *s, const char *eco, const char *p, const char *e)
{
	const char *q, *v;

	p = sp(p, e);
	if (p >= e || *p == '#' || *p == '[')
		return;
	q = p;
	while (q < e && (isalnum((unsigned char)*q) || *q == '-' || *q == '_' || *q == '.'))
		q++;
	v = sp(q, e);
	if (q == p || v >= e || *v != '=')
		return;
	if (!strcmp(eco, "python") && q - p == 6 && !memcmp(p, "python", 6))
		return;	/* the interpreter, not a package */
	v++;
	{
		const char *ver = v;
		const char *k = NULL;
		for (const char *c = v; c + 7 < e; c++)
			if (!memcmp(c, "version", 7)) {
				k = c + 7;
				break;
			}
		if (k)
			ver = k;
		emit(s, eco, p, (size_t)(q - p), ver, (size_t)(e - ver));
	}
}

/* Copies the section header "[a.b]" of a TOML line into sec. */
static void toml_section(const char *c, const char *le, char *sec, size_t cap)
{
	size_t n = (size_t)(le - c);

	if (n >= cap)
		n = cap - 1;
	memcpy(sec, c, n);
	sec[n] = 0;
}

/*
 * pyproject.toml: PEP 621 lists (dependencies = [...], optional groups)
 * and Poetry tables ([tool.poetry.dependencies] name = "^1.2").
 */
static void pyproject(struct pol_scan *s)
{
	const char *p = s->text, *e = s->text + s->len;
	int in_list = 0, in_poetry = 0, in_project = 0;
	char sec[256];

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e, *c = sp(p, le);

		if (!in_list && c < le && *c == '[') {
			toml_section(c, le, sec, sizeof sec);
			in_poetry = strstr(sec, "tool.poetry") && strstr(sec, "dependencies");
			in_project = !strncmp(sec, "[project", 8);
		} else if (in_poetry) {
			toml_dep(s, "python", c, le);
		} else if (!in_list && in_project) {
			const char *eq = memchr(c, '=', (size_t)(le - c));
			const char *b = eq ? memchr(eq, '[', (size_t)(le - eq)) : NULL;
			if (b && ((le - c >= 12 && !memcmp(c, "dependencies", 12)) || strstr(sec, "optional-dependencies"))) {
				in_list = 1;
				c = b + 1;
			}
		}
		if (in_list) {
			for (const char *x = c; x < le; x++) {
				if (*x == ']') {
					in_list = 0;
					break;
				}
				if (*x == '"' || *x == '\'') {
					const char *z = memchr(x + 1, *x, (size_t)(le - x - 1));
					if (!z)
						break;
					pep508(s, x + 1, z);
					x = z;
				}
			}
		}
		p = nl ? nl + 1 : e;
	}
}

/* Cargo.toml: [dependencies], [dev-dependencies], [target.*.dependencies]... */
static void cargo_toml(struct pol_scan *s)
{
	const char *p = s->text, *e = s->text + s->len;
	int in = 0;
	char sec[256];

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e, *c = sp(p, le);

		if (c < le && *c == '[') {
			toml_section(c, le, sec, sizeof sec);
			in = strstr(sec, "dependencies]") != NULL;
		} else if (in) {
			toml_dep(s, "cargo", c, le);
		}
		p = nl ? nl + 1 : e;
	}
}

/* go.mod: "require x v1" and require ( ... ) blocks. */
static void go_mod(struct pol_scan *s)
{
	const char *p = s->text, *e = s->text + s->len;
	int block = 0;

	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e, *c = sp(p, le), *q;
		int one = 0;

		if (word(&c, le, "require")) {
			c = sp(c, le);
			if (c < le && *c == '(')
				block = 1, c = le;
			else
				one = 1;
		} else if (block && c < le && *c == ')') {
			block = 0;
		} else if (block && c < le && !(c + 1 < le && c[0] == '/' && c[1] == '/')) {
			one = 1;
		}
		if (one) {
			q = c;
			while (q < le && *q != ' ' && *q != '\t')
				q++;
			emit(s, "go", c, (size_t)(q - c), q, (size_t)(le - q));
		}
		p = nl ? nl + 1 : e;
	}
}

/* Finds the byte offset of "key" in the text (for positions of JSON keys). */
static size_t find_key(const struct pol_scan *s, const char *key, size_t from)
{
	size_t n = strlen(key);

	for (size_t i = from; i + n + 2 <= s->len; i++)
		if (s->text[i] == '"' && !memcmp(s->text + i + 1, key, n) && s->text[i + 1 + n] == '"')
			return i + 1;
	return SIZE_MAX;
}

static void package_json(struct pol_scan *s)
{
	static const char *const groups[] = { "dependencies", "devDependencies",
					      "peerDependencies", "optionalDependencies" };
	json_error_t je;
	json_t *root = json_loadb(s->text, s->len, JSON_DISABLE_EOF_CHECK, &je);

	if (!root)
		return;
	for (size_t g = 0; g < 4; g++) {
		json_t *obj = json_object_get(root, groups[g]), *v;
		const char *k;
		size_t gpos = find_key(s, groups[g], 0);

		if (!json_is_object(obj) || gpos == SIZE_MAX)
			continue;
		json_object_foreach(obj, k, v) {
			size_t at = find_key(s, k, gpos);
			struct dep d;
			const char *ver = json_is_string(v) ? json_string_value(v) : "";
			if (at == SIZE_MAX || strlen(k) >= sizeof d.name)
				continue;
			str_copy(d.name, k, sizeof d.name);
			version_of(ver, strlen(ver), d.version, sizeof d.version);
			d.start = at;
			d.end = at + strlen(k);
			judge(s, "npm", &d);
		}
	}
	json_decref(root);
}

/* Text between <tag> and </tag> within [p, e), or NULL. */
static const char *xml_tag(const char *p, const char *e, const char *tag, size_t *n)
{
	char open[64], close[64];
	size_t lo, lc;
	const char *a, *b;

	lo = (size_t)snprintf(open, sizeof open, "<%s>", tag);
	lc = (size_t)snprintf(close, sizeof close, "</%s>", tag);
	a = memmem(p, (size_t)(e - p), open, lo);
	if (!a)
		return NULL;
	a += lo;
	b = memmem(a, (size_t)(e - a), close, lc);
	if (!b)
		return NULL;
	*n = (size_t)(b - a);
	return a;
}

/* pom.xml: each <dependency> as "groupId:artifactId" with its <version>. */
static void pom_xml(struct pol_scan *s)
{
	const char *p = s->text, *e = s->text + s->len;

	for (;;) {
		const char *a = memmem(p, (size_t)(e - p), "<dependency>", 12), *b, *g, *art, *v;
		size_t ng, na, nv = 0;
		struct dep d;

		if (!a)
			break;
		b = memmem(a, (size_t)(e - a), "</dependency>", 13);
		if (!b)
			break;
		g = xml_tag(a, b, "groupId", &ng);
		art = xml_tag(a, b, "artifactId", &na);
		v = xml_tag(a, b, "version", &nv);
		if (g && art && ng + na + 2 < sizeof d.name) {
			memcpy(d.name, g, ng);
			d.name[ng] = ':';
			memcpy(d.name + ng + 1, art, na);
			d.name[ng + 1 + na] = 0;
			d.version[0] = 0;
			if (v)
				version_of(v, nv, d.version, sizeof d.version);
			d.start = (size_t)(art - s->text);
			d.end = d.start + na;
			judge(s, "maven", &d);
		}
		p = b + 13;
	}
}

void pol__import_scan(struct pol_scan *s)
{
	const char *path = s->ctx ? s->ctx->path : NULL;
	const char *base = path ? strrchr(path, '/') : NULL;
	const char *eco;
	int any = 0;

	for (size_t i = 0; i < s->b->n_rules; i++)
		if (s->eff[i].on && s->b->rules[i].kind == POL_KIND_IMPORT)
			any = 1;
	if (!any)
		return;
	base = base ? base + 1 : path;
	if (base) {
		if (!strncmp(base, "requirements", 12) && strstr(base, ".txt")) {
			const char *p = s->text, *e = s->text + s->len;
			while (p < e) {
				const char *nl = memchr(p, '\n', (size_t)(e - p));
				requirements(s, p, nl ? nl : e);
				p = nl ? nl + 1 : e;
			}
			return;
		}
		if (!strcmp(base, "pyproject.toml"))
			{
				pyproject(s);
				return;
			}
		if (!strcmp(base, "package.json"))
			{
				package_json(s);
				return;
			}
		if (!strcmp(base, "go.mod"))
			{
				go_mod(s);
				return;
			}
		if (!strcmp(base, "Cargo.toml"))
			{
				cargo_toml(s);
				return;
			}
		if (!strcmp(base, "pom.xml"))
			{
				pom_xml(s);
				return;
			}
	}
	eco = eco_of_lang(s->lang);
	if (!eco)
		return;
	{
		const char *p = s->text, *e = s->text + s->len;
		int go_block = 0;
		while (p < e && s->r->n < POL_MAX_FINDINGS) {
			const char *nl = memchr(p, '\n', (size_t)(e - p));
			code_line(s, eco, p, nl ? nl : e, &go_block);
			p = nl ? nl + 1 : e;
		}
	}
}
