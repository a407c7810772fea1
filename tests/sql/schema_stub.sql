-- Stand-in for the schema of sql/001_*.sql (branch db) with exactly PRODUCT.md's fixed
-- columns, used by the SQL tests only while `fleetarc migrate` is not available.
CREATE SCHEMA IF NOT EXISTS fleetarc;
CREATE TABLE IF NOT EXISTS fleetarc.positions (
  imei text NOT NULL, gpstime timestamptz NOT NULL,
  longitude double precision NOT NULL, latitude double precision NOT NULL,
  speed integer, course integer,
  PRIMARY KEY (imei, gpstime)) PARTITION BY RANGE (gpstime);
CREATE TABLE IF NOT EXISTS fleetarc.positions_default PARTITION OF fleetarc.positions DEFAULT;
CREATE TABLE IF NOT EXISTS fleetarc.alarm_types (code integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS fleetarc.alarms (
  imei text NOT NULL, alarm_type integer NOT NULL, gpstime timestamptz NOT NULL,
  systemtime timestamptz NOT NULL, longitude double precision, latitude double precision,
  speed integer, course integer, geofence_id bigint,
  UNIQUE (imei, alarm_type, gpstime, systemtime));
CREATE TABLE IF NOT EXISTS fleetarc.devices (
  imei text PRIMARY KEY, account text, devicename text, devicetype text, platenumber text);
CREATE TABLE IF NOT EXISTS fleetarc.daily_mileage (
  imei text NOT NULL, day date NOT NULL, km double precision, PRIMARY KEY (imei, day));
