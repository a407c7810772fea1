-- 001_schema.sql: fleetarc's tables (PRODUCT.md "Database"), the alarm types of spec 2.8,
-- and monthly partitions of positions and alarms made on demand by ensure_partitions().
-- Run once by `fleetarc migrate` inside its transaction: no BEGIN/COMMIT here.
-- The schema fleetarc and fleetarc.schema_migrations are created by the runner itself.

-- Accounts the archiver logs in to or found as sub-accounts.
CREATE TABLE fleetarc.accounts (
  name        text PRIMARY KEY,
  parent      text,                           -- the account it was listed under; NULL when configured
  configured  boolean NOT NULL DEFAULT true,  -- false: discovered through /api/user/list
  first_seen  timestamptz NOT NULL DEFAULT now(),
  last_seen   timestamptz NOT NULL DEFAULT now(),
  removed_at  timestamptz                     -- no longer listed; its history stays
);

-- Devices as /api/device/list and /api/device/detail (spec 2.7, 2.12) report them.
-- No foreign key to accounts: a device list page must not fail because its account row
-- has not been written yet. The platform's 0 times ("never") are stored as NULL.
CREATE TABLE fleetarc.devices (
  imei             text PRIMARY KEY,
  account          text NOT NULL,
  devicename       text,
  devicetype       text,
  platenumber      text,
  simcard          text,
  iccid            text,
  onlinetime       timestamptz,
  platformduetime  timestamptz,
  activatedtime    timestamptz,
  userduetime      timestamptz,
  first_seen       timestamptz NOT NULL DEFAULT now(),
  last_seen        timestamptz NOT NULL DEFAULT now(),
  removed_at       timestamptz  -- not listed any more; NULL again when it comes back
);
CREATE INDEX devices_account_idx ON fleetarc.devices (account);

-- The 44 alarm types of spec 2.8, names exactly as printed there. alarms.alarm_type has no
-- foreign key to this table on purpose: a platform that adds type 45 must not make alarm
-- pages fail; reports LEFT JOIN it.
CREATE TABLE fleetarc.alarm_types (
  code  integer PRIMARY KEY,
  name  text NOT NULL UNIQUE
);
INSERT INTO fleetarc.alarm_types (code, name) VALUES
  (1, 'sosAlarm'),
  (2, 'lowBatteryAlarm'),
  (3, 'powerDisconnectAlarm'),
  (4, 'vibrationAlarm'),
  (5, 'geoFenceInAlarm'),
  (6, 'geoFenceOutAlarm'),
  (7, 'speedingAlarm'),
  (8, 'carMoveAlarm'),
  (9, 'engineOn'),
  (10, 'engineOff'),
  (11, 'tireTemperatureAlarm'),
  (12, 'tireLeakPressureAlarm'),
  (13, 'tireLowPressureAlarm'),
  (14, 'tireHighPressureAlarm'),
  (15, 'gpsDeadZoneInAlarm'),
  (16, 'gpsDeadZoneOutAlarm'),
  (17, 'obdDtcAlarm'),
  (18, 'disassembleAlarm'),
  (19, 'powerOffAlarm'),
  (20, 'collisionAlarm'),
  (21, 'dropAlarm'),
  (22, 'routeAlarm'),
  (23, 'rapidAccelerationAlarm'),
  (24, 'rapidDecelerationAlarm'),
  (25, 'sharpTurnAlarm'),
  (26, 'dooropenAlarm'),
  (27, 'doorcloseAlarm'),
  (28, 'offlineAlarm'),
  (29, 'engineIdleAlarm'),
  (30, 'parkingAlarm'),
  (31, 'oilLeakAlertAlarm'),
  (32, 'oilTheftAlertAlarm'),
  (33, 'jammingAlarm'),
  (34, 'restrictedDrivingAlarm'),
  (35, 'lowTemperatureAlarm'),
  (36, 'highTemperatureAlarm'),
  (37, 'dumpSwitchOnAlarm'),
  (38, 'dumpSwitchOffAlarm'),
  (39, 'armAlarm'),
  (40, 'rolloverAlarm'),
  (41, 'fatigueDrivingAlarm'),
  (42, 'lackBreakFatigueDrivingAlarm'),
  (43, 'lowOilAlarm'),
  (44, 'lowExternalBatteryAlarm');

-- Every point of /api/playback (spec 2.3). The key absorbs the boundary record that each
-- next page returns again, and any page fetched twice after a crash. Values are kept as
-- the platform sent them (no range checks): one odd point must not reject a whole batch.
CREATE TABLE fleetarc.positions (
  imei       text NOT NULL,
  gpstime    timestamptz NOT NULL,
  longitude  double precision NOT NULL,
  latitude   double precision NOT NULL,
  speed      integer NOT NULL,   -- km/h
  course     integer NOT NULL,   -- degrees, north 0, clockwise
  PRIMARY KEY (imei, gpstime)
) PARTITION BY RANGE (gpstime);

-- Every alarm of /api/alarm/list (spec 2.8). Pages run on systemtime, hence its index.
CREATE TABLE fleetarc.alarms (
  imei         text NOT NULL,
  alarm_type   integer NOT NULL,
  gpstime      timestamptz NOT NULL,
  systemtime   timestamptz NOT NULL,
  longitude    double precision NOT NULL,
  latitude     double precision NOT NULL,
  speed        integer NOT NULL,
  course       integer NOT NULL,
  geofence_id  bigint NOT NULL DEFAULT 0,  -- as sent: 0 when the alarm is not a geofence one
  UNIQUE (imei, alarm_type, gpstime, systemtime)
) PARTITION BY RANGE (gpstime);
CREATE INDEX alarms_imei_systemtime_idx ON fleetarc.alarms (imei, systemtime);
CREATE INDEX alarms_imei_gpstime_idx ON fleetarc.alarms (imei, gpstime);

-- The latest /api/track record (spec 2.2) of each device, every field of it.
-- Decision on the -1 sentinels ("no such status", "no mileage"): stored as NULL, so that
-- aggregates (avg battery, sum of mileage) cannot mistake them for values and reports
-- test IS NULL. The writer maps -1 to NULL for exactly the fields the spec gives a -1
-- meaning to (the *status fields but datastatus, battery, mileage, todaymileage), and a
-- time of 0 to NULL.
CREATE TABLE fleetarc.device_state (
  imei            text PRIMARY KEY,
  servertime      timestamptz,
  gpstime         timestamptz,
  hearttime       timestamptz,
  systemtime      timestamptz,
  longitude       double precision,
  latitude        double precision,
  course          integer,
  speed           integer,
  acctime         bigint,     -- seconds the ACC status has been kept
  accstatus       smallint,   -- 1 on, 0 off, NULL: no acc status
  doorstatus      smallint,   -- 1 open, 0 closed, NULL: no door status
  chargestatus    smallint,   -- 1 charging, 0 not, NULL: no such status
  oilpowerstatus  smallint,   -- 1 fuel supply ok, 0 off, NULL: no such status
  defencestatus   smallint,   -- 1 defence on, 0 off, NULL: no such status
  datastatus      smallint,   -- 1 never online, 2 ok, 3 expired, 4 offline, 5 block
  battery         integer,    -- NULL: no battery status
  mileage         bigint,     -- metres; NULL: no mileage
  todaymileage    bigint,     -- metres; NULL: no todaymileage
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Distance per device and UTC day from /api/device/mileage (spec 2.14), in km.
CREATE TABLE fleetarc.daily_mileage (
  imei        text NOT NULL,
  day         date NOT NULL,   -- UTC day
  km          double precision NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (imei, day)
);

-- How far each stream of each device is archived. Moved only in the transaction that
-- writes the rows it covers, and only forward (the writer merges with GREATEST).
CREATE TABLE fleetarc.cursors (
  imei        text NOT NULL,
  stream      text NOT NULL CHECK (stream IN ('playback', 'alarms', 'mileage')),
  cursor      timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (imei, stream)
);

-- ensure_partitions(from, to): creates the monthly partitions (UTC months) of positions
-- and alarms that cover [from, to] and do not exist yet; returns how many it created.
-- Idempotent; concurrent callers serialise on a transaction-level advisory lock and
-- re-check under it, so two writers never race on one CREATE TABLE.
CREATE FUNCTION fleetarc.ensure_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
  month_start  timestamp;   -- UTC wall time of the first instant of the month
  month_end    timestamp;
  last_month   timestamp;
  parent       text;
  part         text;
  created      integer := 0;
BEGIN
  IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
    RAISE EXCEPTION 'ensure_partitions: bad range [%, %]', p_from, p_to;
  END IF;
  month_start := date_trunc('month', p_from AT TIME ZONE 'UTC');
  last_month := date_trunc('month', p_to AT TIME ZONE 'UTC');
  IF last_month > month_start + interval '100 years' THEN
    RAISE EXCEPTION 'ensure_partitions: range [%, %] spans more than 100 years', p_from, p_to;
  END IF;
  -- 0x666c6565 = 'flee': the key is fixed so that every writer and migrate agree on it.
  PERFORM pg_advisory_xact_lock(1718379877, 1);
  WHILE month_start <= last_month LOOP
    month_end := month_start + interval '1 month';
    FOREACH parent IN ARRAY ARRAY['positions', 'alarms'] LOOP
      part := parent || '_' || to_char(month_start, 'YYYYMM');
      IF to_regclass(format('fleetarc.%I', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE fleetarc.%I PARTITION OF fleetarc.%I FOR VALUES FROM (%L) TO (%L)',
                       part, parent,
                       (month_start AT TIME ZONE 'UTC')::timestamptz,
                       (month_end AT TIME ZONE 'UTC')::timestamptz);
        created := created + 1;
      END IF;
    END LOOP;
    month_start := month_end;
  END LOOP;
  RETURN created;
END
$$;

COMMENT ON FUNCTION fleetarc.ensure_partitions(timestamptz, timestamptz) IS
  'Creates the missing monthly partitions of positions and alarms covering [from, to]; returns how many.';

-- The months around the migration, so that a fresh install writes without a first DDL.
SELECT fleetarc.ensure_partitions(now() - interval '1 month', now() + interval '2 months');
