/* The simulated Open API's account endpoints (sim_api_int.h): device lists and details,
 * users, blocking, passwords, messages, geofences, commands and their answers. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_api_int.h"
#include "util/buf.h"
#include "util/grow.h"
#include "util/log.h"

static void write_device(sim_json_t *j, const sim_device_t *d, bool bad) {
  sim_json_lit(j, "{\"imei\":");
  sim_json_string(j, d->imei);
  KEY_STR(j, "devicename", d->devicename);
  KEY_STR(j, "devicetype", d->devicetype);
  KEY_STR(j, "platenumber", d->platenumber);
  if (bad) KEY_STR(j, "onlinetime", "bad");
  else KEY_INT(j, "onlinetime", d->onlinetime);
  KEY_INT(j, "platformduetime", d->platformduetime);
  KEY_STR(j, "simcard", d->simcard);
  KEY_STR(j, "iccid", d->iccid);
  KEY_INT(j, "activatedtime", d->activatedtime);
  KEY_INT(j, "userduetime", d->userduetime);
  sim_json_lit(j, "}");
}

/* The answer of 2.7 and 2.12: the devices as an array record. */
static void write_devices(ctx_t *c, const uint32_t *devs, size_t n) {
  sim_json_lit(&c->j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) sim_json_lit(&c->j, ",");
    bool bad = c->api->opt.inject_on && sim_inject_device(&c->api->opt.inject, devs[i]);
    if (bad) c->api->opt.inject.injected++;
    write_device(&c->j, sim_fleet_device(c->api->fleet, devs[i]), bad);
  }
  sim_json_lit(&c->j, "]}");
}

int simapi__ep_device_list(ctx_t *c) {
  uint32_t a;
  if (c->api->opt.inject.fanout && sim_inject_fan_name(simapi__param(c, "account"))) {
    sim_json_lit(&c->j, "{\"code\":0,\"record\":[]}");
    return 0;
  }
  int rc = simapi__resolve_account(c, "account", true, false, &a);
  if (rc) return rc;
  const uint32_t *devs;
  size_t n = sim_fleet_account_devices(c->api->fleet, a, &devs);
  if (n > MAX_LIST) n = MAX_LIST;
  if (n == 0 && c->api->opt.nodata != SIM_NODATA_20023) return simapi__no_data(c);
  write_devices(c, devs, n);
  return 0;
}

int simapi__ep_device_detail(ctx_t *c) {
  uint32_t devs[MAX_IMEIS];
  size_t n;
  int rc = simapi__resolve_imeis(c, devs, &n);
  if (rc) return rc;
  write_devices(c, devs, n);
  return 0;
}

static void write_user(const sim_api_t *api, sim_json_t *j, uint32_t a) {
  const sim_account_t *u = sim_fleet_account(api->fleet, a);
  sim_json_lit(j, "{\"account\":");
  sim_json_string(j, u->account);
  KEY_STR(j, "username", u->username);
  KEY_STR(j, "email", u->email);
  KEY_STR(j, "mobile", u->mobile);
  KEY_STR(j, "telephone", u->telephone);
  KEY_INT(j, "createtime", u->createtime);
  KEY_INT(j, "roletype", u->roletype);
  KEY_INT(j, "blockstatus", api->acct[a].blocked ? 0 : 1); /* spec: 0 blocked, 1 not */
  sim_json_lit(j, "}");
}

int simapi__ep_user_info(ctx_t *c) {
  uint32_t a;
  int rc = simapi__resolve_account(c, "account", false, false, &a);
  if (rc) return rc;
  sim_json_lit(&c->j, "{\"code\":0,\"record\":");
  write_user(c->api, &c->j, a);
  sim_json_lit(&c->j, "}");
  return 0;
}

/* --inject fanout=N: N sub-accounts never listed before. */
static void write_fan(ctx_t *c, bool comma) {
  sim_inject_t *inj = &c->api->opt.inject;
  for (uint32_t k = 0; k < inj->fanout; k++) {
    char name[40];
    snprintf(name, sizeof name, "fan-%llu", (unsigned long long)++inj->fan_serial);
    if (comma || k) sim_json_lit(&c->j, ",");
    sim_json_lit(&c->j, "{\"account\":");
    sim_json_string(&c->j, name);
    sim_json_lit(&c->j, ",\"roletype\":2,\"blockstatus\":1}");
    inj->injected++;
  }
}

int simapi__ep_user_list(ctx_t *c) {
  uint32_t a;
  bool fan = c->api->opt.inject.fanout > 0;
  if (fan && sim_inject_fan_name(simapi__param(c, "account"))) {
    sim_json_lit(&c->j, "{\"code\":0,\"record\":[");
    write_fan(c, false);
    sim_json_lit(&c->j, "]}");
    return 0;
  }
  int rc = simapi__resolve_account(c, "account", true, false, &a);
  if (rc) return rc;
  const uint32_t *kids;
  size_t n = sim_fleet_account_children(c->api->fleet, a, &kids);
  if (n > MAX_LIST) n = MAX_LIST;
  if (n == 0 && c->api->opt.nodata != SIM_NODATA_20023) return simapi__no_data(c);
  sim_json_lit(&c->j, "{\"code\":0,\"record\":[");
  for (size_t i = 0; i < n; i++) {
    if (i) sim_json_lit(&c->j, ",");
    write_user(c->api, &c->j, kids[i]);
  }
  if (fan) write_fan(c, n > 0);
  sim_json_lit(&c->j, "]}");
  return 0;
}

int simapi__ep_user_block(ctx_t *c, bool block) {
  uint32_t a;
  int rc = simapi__resolve_account(c, "account", false, true, &a);
  if (rc) return rc;
  c->api->acct[a].blocked = block;
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

int simapi__ep_password_set(ctx_t *c) {
  const char *pw = simapi__param(c, "password");
  uint32_t a;
  int rc = simapi__resolve_account(c, "account", false, false, &a);
  if (rc) return rc;
  if (!pw) return API_CODE_MISSING_PARAMETER;
  if (!api_is_md5_hex(pw)) return API_CODE_PARAMETER_ERROR;
  char *dst = c->api->acct[a].pw_md5;
  for (int i = 0; i < API_MD5_HEX_LEN; i++)
    dst[i] = (char)(pw[i] >= 'A' && pw[i] <= 'F' ? pw[i] - 'A' + 'a' : pw[i]);
  dst[API_MD5_HEX_LEN] = '\0';
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

int simapi__ep_message_send(ctx_t *c) {
  const char *accounts = simapi__param(c, "accounts"), *content = simapi__param(c, "content");
  if (!accounts || !content) return API_CODE_MISSING_PARAMETER;
  size_t count = 1;
  for (const char *p = accounts; *p; p++) count += *p == ',';
  if (count > MAX_MESSAGE_ACCOUNTS) return API_CODE_OUT_OF_RANGE;
  if (simapi__utf8_chars(content) > MAX_MESSAGE_CHARS) return API_CODE_OUT_OF_RANGE;
  const char *s = accounts;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t len = e ? (size_t)(e - s) : strlen(s);
    char name[128];
    if (len == 0) return API_CODE_PARAMETER_ERROR;
    if (len >= sizeof name) return API_CODE_TARGET_NOT_EXIST;
    memcpy(name, s, len);
    name[len] = '\0';
    int32_t a = sim_fleet_account_find(c->api->fleet, name);
    if (a < 0) return API_CODE_TARGET_NOT_EXIST;
    if (!simapi__account_under(c->api, (uint32_t)a, c->account)) return API_CODE_PERMISSION_DENIED;
    if (!e) break;
    s = e + 1;
  }
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

int simapi__ep_geofence_create(ctx_t *c) {
  const char *imei = simapi__param(c, "imei"), *name = simapi__param(c, "efencename"),
             *at = simapi__param(c, "alarmtype"), *lon_s = simapi__param(c, "longitude"),
             *lat_s = simapi__param(c, "latitude"), *rad_s = simapi__param(c, "radius");
  if (!imei || !name || !at || !lon_s || !lat_s || !rad_s) return API_CODE_MISSING_PARAMETER;
  int64_t alarmtype, radius;
  double lon, lat;
  if (!simapi__parse_i64(at, &alarmtype) || !simapi__parse_i64(rad_s, &radius) || !simapi__parse_double(lon_s, &lon) ||
      !simapi__parse_double(lat_s, &lat))
    return API_CODE_PARAMETER_ERROR;
  if (alarmtype < 0 || alarmtype > 2 || radius < 100 || radius > 5000 || lon < -180 ||
      lon > 180 || lat < -90 || lat > 90 || simapi__utf8_chars(name) > MAX_FENCE_NAME_CHARS)
    return API_CODE_OUT_OF_RANGE;
  uint32_t dev;
  int rc = simapi__resolve_imei(c, imei, strlen(imei), &dev);
  if (rc) return rc;
  int64_t id = sim_fleet_geofence_add(c->api->fleet, dev, name, lon, lat, (int)radius,
                                      (int)alarmtype, c->present);
  if (id <= 0) return API_CODE_SYSTEM_ERROR;
  sim_json_lit(&c->j, "{\"code\":0}");
  return 0;
}

/* paramData of SET_MILEAGE: {"mileage":"30"} (a number is accepted too). */
static bool parse_mileage_param(const char *s, int64_t *out) {
  cJSON *root = cJSON_Parse(s);
  bool ok = false;
  cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "mileage");
  if (cJSON_IsString(m)) ok = simapi__parse_i64(m->valuestring, out) && *out >= 0;
  else if (cJSON_IsNumber(m)) ok = m->valuedouble >= 0 && m->valuedouble < 1e12,
                              *out = (int64_t)m->valuedouble;
  cJSON_Delete(root);
  return ok;
}

int simapi__ep_command_send(ctx_t *c) {
  sim_api_t *api = c->api;
  const char *imei = simapi__param(c, "imei"), *cmd = simapi__param(c, "command");
  if (!imei || !cmd) return API_CODE_MISSING_PARAMETER;
  while (*cmd == ' ') cmd++;
  size_t cl = strlen(cmd);
  while (cl && cmd[cl - 1] == ' ') cl--;
  int kind = -1;
  for (int k = 0; k < CMD_KINDS; k++)
    if (strlen(simapi__command_names[k]) == cl && strncmp(cmd, simapi__command_names[k], cl) == 0) kind = k;
  uint32_t dev;
  int rc = simapi__resolve_imei(c, imei, strlen(imei), &dev);
  if (rc) return rc;
  if (kind < 0) return API_CODE_UNSUPPORTED_COMMAND;
  int64_t mileage = 0;
  if (kind == CMD_SET_MILEAGE) {
    const char *pd = simapi__param(c, "paramData");
    if (!pd) return API_CODE_MISSING_PARAMETER;
    if (!parse_mileage_param(pd, &mileage)) return API_CODE_PARAMETER_ERROR;
  }
  sim_state_t s;
  if (sim_fleet_state(api->fleet, dev, c->present, &s) != 0) return API_CODE_SYSTEM_ERROR;
  if (s.datastatus == 3) return API_CODE_TARGET_EXPIRED;
  if (GROW(api->cmds, api->cmd_cap, api->ncmds + 1) != 0) return API_CODE_SYSTEM_ERROR;
  size_t idx = api->ncmds++;
  command_t *cm = &api->cmds[idx];
  *cm = (command_t){.dev = dev, .account = c->account, .kind = (uint8_t)kind,
                    .silent_queries = (uint8_t)(1 + simapi__mix64(api->opt.seed ^ idx) % 3),
                    .never = s.datastatus == 1 || s.datastatus == 4, .mileage = mileage};
  char id[24];
  snprintf(id, sizeof id, "%X", (unsigned)(api->cmd_base + idx));
  sim_json_lit(&c->j, "{\"code\":0,\"record\":{\"commandid\":");
  sim_json_string(&c->j, id);
  sim_json_lit(&c->j, "}}");
  return 0;
}

int simapi__ep_command_query(ctx_t *c) {
  sim_api_t *api = c->api;
  const char *id = simapi__param(c, "commandid");
  if (!id) return API_CODE_MISSING_PARAMETER;
  char *end;
  unsigned long v = strtoul(id, &end, 16);
  if (*end || v < api->cmd_base || v - api->cmd_base >= api->ncmds) return API_CODE_TARGET_NOT_EXIST;
  command_t *cm = &api->cmds[v - api->cmd_base];
  if (!simapi__account_under(api, cm->account, c->account)) return API_CODE_TARGET_NOT_EXIST;
  cm->queries++;
  bool answered = !cm->never && cm->queries > cm->silent_queries;
  sim_json_lit(&c->j, "{\"code\":0,\"record\":{\"response\":");
  if (answered) {
    char text[128];
    if (cm->kind == CMD_SET_MILEAGE)
      snprintf(text, sizeof text, "%s Mileage: %lld km.", simapi__command_answers[cm->kind],
               (long long)cm->mileage);
    else
      snprintf(text, sizeof text, "%s", simapi__command_answers[cm->kind]);
    sim_json_string(&c->j, text);
  } else {
    sim_json_lit(&c->j, "\"\"");
  }
  sim_json_lit(&c->j, ",\"commandstatus\":");
  sim_json_int(&c->j, answered ? 1 : 0);
  sim_json_lit(&c->j, "}}");
  return 0;
}

