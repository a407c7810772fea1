/* The simulator's synthetic fleet: the account tree, the devices, and every device's
 * history as a pure function of (seed, imei, time), computed day by day on demand.
 * This file: construction, the account tree and the devices, lookups, silences and
 * geofences; the rest is in fleet_plan.c, fleet_history.c, fleet_alarms.c (fleet_int.h). */
#include "sim/fleet.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/fleet_int.h"
#include "util/buf.h"
#include "util/grow.h"

static const char *const DEVICE_TYPES[] = {"VT05S", "GT06N", "GT02A", "TK103B",
                                           "GT300", "ET200", "JM01", "X3"};
static const char *const DEVICE_NAMES[] = {"Camión %u", "Грузовик %u", "車両 %u",
                                           "Truck %u", "Van %u", "Fourgon %u",
                                           "Lieferwagen %u", "Bus %u"};
static const char *const CUSTOMER_NAMES[] = {"Transportes Peña %u", "Логистика %u",
                                             "物流公司 %u", "Acme Haulage %u",
                                             "Müller Spedition %u"};

static const char *const TRAP_IMEIS[3] = {"999000000000001", "999000000000002",
                                          "999000000000003"};

/* ---------- silences ---------- */

int sim_fleet_silence(sim_fleet_t *f, uint32_t dev, int64_t at) {
  if (!f || dev >= f->ndevices) return -EINVAL;
  void *nv = realloc(f->silences, (f->nsilences + 1) * sizeof(*f->silences));
  if (!nv) return -ENOMEM;
  f->silences = nv;
  f->silences[f->nsilences].dev = dev;
  f->silences[f->nsilences].at = at;
  f->nsilences++;
  return 0;
}

/* ---------- geofences ---------- */

int64_t sim_fleet_geofence_add(sim_fleet_t *f, uint32_t dev, const char *name, double lon,
                               double lat, int radius_m, int alarmtype, int64_t created) {
  if (!f || dev >= f->ndevices || !name || radius_m <= 0 || alarmtype < 0 || alarmtype > 2)
    return -EINVAL;
  if (GROW(f->fences, f->capfences, f->nfences + 1) != 0) return -ENOMEM;
  char *copy = strdup(name);
  if (!copy) return -ENOMEM;
  geofence_t *g = &f->fences[f->nfences];
  g->id = (int64_t)f->nfences + 1;
  g->dev = dev;
  g->lon = lon;
  g->lat = lat;
  g->radius_m = radius_m;
  g->alarmtype = alarmtype;
  g->created = created;
  g->name = copy;
  f->nfences++;
  return g->id;
}

/* ---------- construction ---------- */

static uint64_t imei_hash(const char *imei) {
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = imei; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ULL;
  return mix64(h);
}

static void luhn_imei(uint64_t body, char out[16]) {
  char digits[15];
  for (int i = 13; i >= 0; i--) {
    digits[i] = (char)('0' + body % 10);
    body /= 10;
  }
  int sum = 0;
  for (int i = 0; i < 14; i++) {
    int v = digits[i] - '0';
    if (i % 2 == 1) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  digits[14] = (char)('0' + (10 - sum % 10) % 10);
  memcpy(out, digits, 15);
  out[15] = '\0';
}

/* Arena strings are appended while the arena may still move: keep offsets in the
 * pointer fields until the end, then rebase them. */
static int arena_add(buf_t *a, const char **field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int arena_add(buf_t *a, const char **field, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(tmp)) return -EINVAL;
  *field = (const char *)(uintptr_t)(a->len + 1); /* +1: 0 stays "unset" */
  return buf_append(a, tmp, (size_t)n + 1);
}

static const char *rebase(const char *arena, const char *off) {
  return off ? arena + ((uintptr_t)off - 1) : NULL;
}

static sim_device_kind_t kind_for(uint32_t i) {
  switch (i % 40) {
  case 3: return SIM_DEVICE_OFFLINE;
  case 7: case 29: return SIM_DEVICE_PARKED;
  case 13: return SIM_DEVICE_EXPIRED;
  case 19: return SIM_DEVICE_NEVER_ONLINE;
  default: return SIM_DEVICE_NORMAL;
  }
}

static int table_insert(sim_fleet_t *f, uint32_t dev) {
  size_t i = imei_hash(f->devices[dev].imei) & f->table_mask;
  while (f->table[i]) {
    if (strcmp(f->devices[f->table[i] - 1].imei, f->devices[dev].imei) == 0) return -EEXIST;
    i = (i + 1) & f->table_mask;
  }
  f->table[i] = dev + 1;
  return 0;
}

static void password_for(uint64_t seed, size_t i, char out[16]) {
  static const char letters[] = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
  uint64_t h = hash3(seed, TAG_NAME, (int64_t)i * 7 + 3);
  out[0] = letters[24 + h % 23];
  h /= 23;
  out[1] = letters[h % 23];
  h /= 23;
  out[2] = letters[h % 23];
  h /= 23;
  snprintf(out + 3, 13, "@%05u", (unsigned)(h % 100000));
}

sim_fleet_t *sim_fleet_new(const sim_fleet_options_t *opt) {
  if (!opt || opt->devices > 10000000 || opt->account_size > 400) return NULL;
  if (opt->offline_after != 0 &&
      (opt->offline_after < SIM_OFFLINE_AFTER_MIN || opt->offline_after > SIM_OFFLINE_AFTER_MAX))
    return NULL;
  if (opt->parking_after < 0 || opt->parking_after > SIM_PARKING_AFTER_MAX) return NULL;
  if (!(opt->late_share >= 0 && opt->late_share <= 1) || opt->late_window < 0 ||
      opt->late_delay < 0 || (opt->late_share > 0 && opt->late_window < 60) ||
      opt->late_window + opt->late_delay > SIM_LATE_MAX)
    return NULL;
  sim_fleet_t *f = calloc(1, sizeof(*f));
  buf_t arena = BUF_INIT;
  uint32_t *acc_of_cust = NULL;
  if (!f) return NULL;
  f->opt = *opt;
  uint32_t n = opt->devices;
  size_t ntraps = opt->traps ? 3 : 0;
  f->ndevices = n + ntraps;
  uint64_t seed = opt->seed;

  /* The tree: demo holds up to 10 devices; customers hold up to 400 (account_size) each, hang off demo
   * (the second one below the first, to have depth), or off distributors of up to 400
   * customers when there are more than 400 customers; one virtual viewer account. */
  uint32_t root_devs = n < 10 ? n : 10;
  uint32_t rest = n - root_devs;
  uint32_t per = opt->account_size ? opt->account_size : 400;
  uint32_t ncust = (rest + per - 1) / per;
  if (rest >= 2 && ncust < 2) ncust = 2;
  uint32_t ndist = ncust > 400 ? (ncust + 399) / 400 : 0;
  f->naccounts = 1 + 1 + ndist + ncust;
  f->accounts = calloc(f->naccounts, sizeof(*f->accounts));
  f->devices = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->devices));
  f->keys = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->keys));
  f->odo = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->odo));
  f->scache = fleet__state_caches_new(f->ndevices);
  size_t cap = 16;
  while (cap < 2 * f->ndevices) cap *= 2;
  f->table = calloc(cap, sizeof(*f->table));
  f->table_mask = cap - 1;
  if (!f->accounts || !f->devices || !f->keys || !f->odo || !f->scache || !f->table) goto fail;

  char pw[16];
  /* accounts: 0 demo, 1 viewer, 2.. distributors, then customers */
  for (size_t i = 0; i < f->naccounts; i++) {
    sim_account_t *a = &f->accounts[i];
    uint64_t h = hash3(seed, TAG_NAME, (int64_t)i);
    password_for(seed, i, pw);
    int rc = 0;
    if (i == 0) {
      rc = rc ? rc : arena_add(&arena, &a->account, "demo");
      rc = rc ? rc : arena_add(&arena, &a->username, "Demo Distribución");
      a->roletype = 1;
      a->parent = -1;
    } else if (i == 1) {
      rc = rc ? rc : arena_add(&arena, &a->account, "demo-viewer");
      rc = rc ? rc : arena_add(&arena, &a->username, "Viewer");
      a->roletype = 3;
      a->parent = 0;
    } else if (i < 2 + ndist) {
      rc = rc ? rc : arena_add(&arena, &a->account, "dist%03zu", i - 1);
      rc = rc ? rc : arena_add(&arena, &a->username, "Distributor %zu", i - 1);
      a->roletype = 1;
      a->parent = 0;
    } else {
      size_t j = i - 2 - ndist;
      rc = rc ? rc : arena_add(&arena, &a->account, "cust%04zu", j + 1);
      rc = rc ? rc : arena_add(&arena, &a->username, CUSTOMER_NAMES[h % 5], (unsigned)(j + 1));
      a->roletype = 2;
      if (ndist) a->parent = (int32_t)(2 + j / 400);
      else a->parent = (j == 1) ? (int32_t)(2 + ndist) : 0;
    }
    rc = rc ? rc : arena_add(&arena, &a->email, "account%zu@example.com", i);
    rc = rc ? rc : arena_add(&arena, &a->mobile, "+1555%07u", (unsigned)(h % 10000000));
    rc = rc ? rc : arena_add(&arena, &a->telephone, "+1444%07u", (unsigned)((h >> 24) % 10000000));
    rc = rc ? rc : arena_add(&arena, &a->password, "%s", pw);
    if (rc) goto fail;
    a->createtime = opt->epoch - 86400 * (int64_t)(400 + h % 400);
  }

  /* devices */
  uint64_t offset = mix64(seed) % 99000000000000ULL;
  for (size_t i = 0; i < f->ndevices; i++) {
    sim_device_t *d = &f->devices[i];
    uint64_t h = hash3(seed, TAG_NAME, 1000000000LL + (int64_t)i);
    int rc = 0;
    if (i < n) {
      /* distinct bodies (a permutation step); one in 16 below 10^13: a leading zero */
      uint64_t body = ((uint64_t)i * 1000003ULL + offset) % 99000000000000ULL;
      if (i % 16 == 5) body %= 10000000000000ULL;
      luhn_imei(body, d->imei);
      while (sim_fleet_device_find(f, d->imei) >= 0) {
        body = (body + 7919) % 99000000000000ULL;
        luhn_imei(body, d->imei);
      }
      d->kind = kind_for((uint32_t)i);
      if (i < root_devs) d->account = 0;
      else {
        uint32_t j = (uint32_t)(((uint64_t)(i - root_devs) * ncust) / rest);
        d->account = 2 + ndist + j;
      }
    } else {
      memcpy(d->imei, TRAP_IMEIS[i - n], 16);
      d->kind = (sim_device_kind_t)(SIM_DEVICE_TRAP_EXACT_PAGE + (int)(i - n));
      d->account = 0;
    }
    rc = rc ? rc : arena_add(&arena, &d->devicename, DEVICE_NAMES[h % 8], (unsigned)(i + 1));
    rc = rc ? rc : arena_add(&arena, &d->devicetype, "%s", DEVICE_TYPES[(h >> 8) % 8]);
    rc = rc ? rc : arena_add(&arena, &d->platenumber, "%c%c-%03u-%c%c",
                             'A' + (int)((h >> 12) % 26), 'A' + (int)((h >> 17) % 26),
                             (unsigned)((h >> 22) % 1000), 'A' + (int)((h >> 32) % 26),
                             'A' + (int)((h >> 37) % 26));
    rc = rc ? rc : arena_add(&arena, &d->simcard, "1%010llu",
                             (unsigned long long)(mix64(h) % 10000000000ULL));
    rc = rc ? rc : arena_add(&arena, &d->iccid, "8986%016llu",
                             (unsigned long long)(mix64(h + 1) % 10000000000000000ULL));
    if (rc) goto fail;
    d->activatedtime = opt->epoch - 86400 * (int64_t)(30 + (h >> 40) % 300);
    d->onlinetime = d->kind == SIM_DEVICE_NEVER_ONLINE ? 0 : d->activatedtime + 3600;
    if (d->kind == SIM_DEVICE_EXPIRED)
      d->platformduetime = (floor_div(opt->epoch, DAY) + 2 + (int64_t)(h % 2)) * DAY + 3 * 3600;
    else
      d->platformduetime = d->activatedtime + 2 * 365 * 86400LL;
    d->userduetime = d->platformduetime;
    uint64_t imei_num = strtoull(d->imei, NULL, 10);
    f->keys[i] = mix64(seed ^ mix64(imei_num ^ 0x5157u));
    if (table_insert(f, (uint32_t)i)) goto fail;
  }

  /* children and device lists, as counting sorts */
  f->child_off = calloc(f->naccounts + 1, sizeof(*f->child_off));
  f->child_list = calloc(f->naccounts ? f->naccounts : 1, sizeof(*f->child_list));
  f->devlist_off = calloc(f->naccounts + 1, sizeof(*f->devlist_off));
  f->devlist = calloc(f->ndevices ? f->ndevices : 1, sizeof(*f->devlist));
  acc_of_cust = calloc(f->naccounts + 1, sizeof(*acc_of_cust));
  if (!f->child_off || !f->child_list || !f->devlist_off || !f->devlist || !acc_of_cust) goto fail;
  for (size_t i = 1; i < f->naccounts; i++) f->child_off[f->accounts[i].parent + 1]++;
  for (size_t i = 0; i < f->naccounts; i++) f->child_off[i + 1] += f->child_off[i];
  memset(acc_of_cust, 0, (f->naccounts + 1) * sizeof(*acc_of_cust));
  for (size_t i = 1; i < f->naccounts; i++) {
    uint32_t p = (uint32_t)f->accounts[i].parent;
    f->child_list[f->child_off[p] + acc_of_cust[p]++] = (uint32_t)i;
  }
  for (size_t i = 0; i < f->ndevices; i++) f->devlist_off[f->devices[i].account + 1]++;
  for (size_t i = 0; i < f->naccounts; i++) f->devlist_off[i + 1] += f->devlist_off[i];
  memset(acc_of_cust, 0, (f->naccounts + 1) * sizeof(*acc_of_cust));
  for (size_t i = 0; i < f->ndevices; i++) {
    uint32_t a = f->devices[i].account;
    f->devlist[f->devlist_off[a] + acc_of_cust[a]++] = (uint32_t)i;
  }
  for (size_t i = 0; i < f->ndevices; i++) f->odo[i].day = INT64_MIN;

  f->arena = buf_steal(&arena);
  if (!f->arena) goto fail;
  for (size_t i = 0; i < f->naccounts; i++) {
    sim_account_t *a = &f->accounts[i];
    a->account = rebase(f->arena, a->account);
    a->username = rebase(f->arena, a->username);
    a->email = rebase(f->arena, a->email);
    a->mobile = rebase(f->arena, a->mobile);
    a->telephone = rebase(f->arena, a->telephone);
    a->password = rebase(f->arena, a->password);
  }
  for (size_t i = 0; i < f->ndevices; i++) {
    sim_device_t *d = &f->devices[i];
    d->devicename = rebase(f->arena, d->devicename);
    d->devicetype = rebase(f->arena, d->devicetype);
    d->platenumber = rebase(f->arena, d->platenumber);
    d->simcard = rebase(f->arena, d->simcard);
    d->iccid = rebase(f->arena, d->iccid);
  }
  free(acc_of_cust);
  return f;
fail:
  free(acc_of_cust);
  buf_free(&arena);
  /* the string fields still hold offsets: free the arrays only */
  sim_fleet_free(f);
  return NULL;
}

const sim_fleet_options_t *sim_fleet_options(const sim_fleet_t *f) { return &f->opt; }

void sim_fleet_free(sim_fleet_t *f) {
  if (!f) return;
  for (size_t i = 0; i < f->nfences; i++) free(f->fences[i].name);
  free(f->fences);
  free(f->silences);
  fleet__state_caches_free(f);
  free(f->odo);
  free(f->table);
  free(f->keys);
  free(f->devices);
  free(f->devlist);
  free(f->devlist_off);
  free(f->child_list);
  free(f->child_off);
  free(f->accounts);
  free(f->arena);
  free(f);
}

/* ---------- lookups ---------- */

size_t sim_fleet_account_count(const sim_fleet_t *f) { return f ? f->naccounts : 0; }

const sim_account_t *sim_fleet_account(const sim_fleet_t *f, size_t i) {
  return f && i < f->naccounts ? &f->accounts[i] : NULL;
}

int32_t sim_fleet_account_find(const sim_fleet_t *f, const char *name) {
  if (!f || !name) return -1;
  for (size_t i = 0; i < f->naccounts; i++)
    if (strcmp(f->accounts[i].account, name) == 0) return (int32_t)i;
  return -1;
}

size_t sim_fleet_account_children(const sim_fleet_t *f, size_t i, const uint32_t **out) {
  if (!f || i >= f->naccounts) {
    if (out) *out = NULL;
    return 0;
  }
  if (out) *out = f->child_list + f->child_off[i];
  return f->child_off[i + 1] - f->child_off[i];
}

size_t sim_fleet_account_devices(const sim_fleet_t *f, size_t i, const uint32_t **out) {
  if (!f || i >= f->naccounts) {
    if (out) *out = NULL;
    return 0;
  }
  if (out) *out = f->devlist + f->devlist_off[i];
  return f->devlist_off[i + 1] - f->devlist_off[i];
}

size_t sim_fleet_device_count(const sim_fleet_t *f) { return f ? f->ndevices : 0; }

const sim_device_t *sim_fleet_device(const sim_fleet_t *f, size_t i) {
  return f && i < f->ndevices ? &f->devices[i] : NULL;
}

int64_t sim_fleet_device_find(const sim_fleet_t *f, const char *imei) {
  if (!f || !imei) return -1;
  size_t i = imei_hash(imei) & f->table_mask;
  while (f->table[i]) {
    uint32_t dev = f->table[i] - 1;
    if (strcmp(f->devices[dev].imei, imei) == 0) return dev;
    i = (i + 1) & f->table_mask;
  }
  return -1;
}
