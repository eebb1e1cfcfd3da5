// SPDX-License-Identifier: Apache-2.0
/*
 * Policies: partial JSON objects at group, device and VM level, merged in that
 * order over the server defaults. Keys:
 *   offline_lifetime  seconds a VM may run / be reopened without contact
 *   checkin_interval  seconds between check-ins the device should keep
 *   key_release       whether /rec answers for the VM at all
 *   allowed_images    null (any) or ["name", "name@version", ...]
 */
#include <string.h>

#include "server/server.h"

bool policy_valid(const json_t *p, const char **why)
{
	const char *key;
	json_t *v;

	if (!json_is_object(p)) {
		*why = "policy must be a JSON object";
		return false;
	}
	json_object_foreach((json_t *)p, key, v)
	{
		if (strcmp(key, "offline_lifetime") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 60 ||
			    json_integer_value(v) > 366 * 86400) {
				*why = "offline_lifetime must be an integer 60..31622400";
				return false;
			}
		} else if (strcmp(key, "checkin_interval") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 5 ||
			    json_integer_value(v) > 86400) {
				*why = "checkin_interval must be an integer 5..86400";
				return false;
			}
		} else if (strcmp(key, "key_release") == 0) {
			if (!json_is_boolean(v)) {
				*why = "key_release must be true or false";
				return false;
			}
		} else if (strcmp(key, "allowed_images") == 0) {
			size_t i;
			json_t *e;

			if (json_is_null(v))
				continue;
			if (!json_is_array(v) || json_array_size(v) > 256) {
				*why = "allowed_images must be null or an array of <= 256 names";
				return false;
			}
			json_array_foreach(v, i, e)
			{
				const char *s = json_string_value(e);
				const char *at = s ? strchr(s, '@') : NULL;
				char name[80];

				if (!s || strlen(s) > 140) {
					*why = "allowed_images entries are \"name\" or \"name@version\"";
					return false;
				}
				snprintf(name, sizeof(name), "%.*s",
					 at ? (int)(at - s) : (int)strlen(s), s);
				if (!name_valid(name, 64) || (at && !name_valid(at + 1, 64))) {
					*why = "allowed_images entries are \"name\" or \"name@version\"";
					return false;
				}
			}
		} else {
			*why = "unknown policy key (allowed: offline_lifetime, checkin_interval, "
			       "key_release, allowed_images)";
			return false;
		}
	}
	return true;
}

static void merge(json_t *into, const char *text)
{
	json_t *p = text ? json_loads(text, 0, NULL) : NULL;

	if (json_is_object(p))
		json_object_update(into, p);
	json_decref(p);
}

json_t *policy_base(struct worker *w, const char *grp)
{
	json_t *p = json_pack("{s:I,s:I,s:b,s:n}", "offline_lifetime",
			      (json_int_t)w->srv->cfg.default_offline, "checkin_interval",
			      (json_int_t)w->srv->cfg.default_checkin, "key_release", 1,
			      "allowed_images");
	struct store_rows rows;

	if (p && grp && SQ(w->store, Q_GROUP_GET, &rows, grp) > 0) {
		merge(p, store_cell(&rows, 0, 1));
		store_rows_free(&rows);
	}
	return p;
}

json_t *policy_layer(const json_t *base, const char *device_policy, const char *vm_policy)
{
	json_t *p = json_deep_copy(base);

	if (p) {
		merge(p, device_policy);
		merge(p, vm_policy);
	}
	return p;
}

json_t *policy_effective(struct worker *w, const char *grp, const char *device_policy,
			 const char *vm_policy)
{
	json_t *base = policy_base(w, grp), *p;

	p = base ? policy_layer(base, device_policy, vm_policy) : NULL;
	json_decref(base);
	return p;
}

bool policy_image_allowed(const json_t *policy, const char *name, const char *version)
{
	json_t *list = json_object_get(policy, "allowed_images"), *e;
	size_t i, n = strlen(name);

	if (!list || json_is_null(list))
		return true;
	json_array_foreach(list, i, e)
	{
		const char *s = json_string_value(e);

		if (!s || strncmp(s, name, n) != 0)
			continue;
		if (s[n] == '\0' || (s[n] == '@' && strcmp(s + n + 1, version) == 0))
			return true;
	}
	return false;
}
