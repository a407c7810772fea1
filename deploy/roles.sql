-- roles.sql: the two database roles of a fleetarc installation. Run as a superuser (or
-- the database owner with CREATEROLE) in fleetarc's database, before or after
-- `fleetarc migrate`; idempotent, so run it again after upgrades:
--     psql -d fleetarc -v ON_ERROR_STOP=1 -f deploy/roles.sql
--
-- fleetarc           the writer: the service logs in as it. It OWNS the schema and
--                    everything in it, because creating monthly partitions ahead
--                    (ensure_partitions) and dropping expired ones (retention) is DDL
--                    only an owner may do. Not a superuser, no CREATEROLE, no CREATEDB.
-- fleetarc_reporter  read-only, for dashboards: USAGE on the schema, SELECT on every
--                    table, view and partition (present and future), EXECUTE on the
--                    report functions. NOLOGIN: grant it to login roles, e.g.
--                        CREATE ROLE grafana LOGIN PASSWORD '...' IN ROLE fleetarc_reporter;
-- Passwords are not set here (no secret in a file under version control): use
-- \password fleetarc in psql, or peer/cert authentication in pg_hba.conf.

DO $roles$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleetarc') THEN
    CREATE ROLE fleetarc LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fleetarc_reporter') THEN
    CREATE ROLE fleetarc_reporter NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
  END IF;
  -- CREATE: migrate runs CREATE SCHEMA IF NOT EXISTS, which checks the right first.
  EXECUTE format('GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO fleetarc', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO fleetarc_reporter', current_database());
END
$roles$;

-- The schema, owned by the writer (migrate creates it IF NOT EXISTS, so either order works).
SET client_min_messages = warning; -- no NOTICE when the schema exists
CREATE SCHEMA IF NOT EXISTS fleetarc AUTHORIZATION fleetarc;
ALTER SCHEMA fleetarc OWNER TO fleetarc;

-- When migrate ran as another role (a superuser, say), hand every object over to the
-- writer, partitions included (ALTER TABLE ... OWNER does not recurse into them).
DO $owner$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'fleetarc' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND pg_get_userbyid(c.relowner) <> 'fleetarc'
  LOOP
    EXECUTE format('ALTER %s fleetarc.%I OWNER TO fleetarc',
                   CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                                  ELSE 'TABLE' END, r.relname);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS sig, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'fleetarc' AND pg_get_userbyid(p.proowner) <> 'fleetarc'
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO fleetarc',
                   CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                                  ELSE 'FUNCTION' END, r.sig);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS typ FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'fleetarc' AND t.typtype IN ('c', 'd', 'e') AND pg_get_userbyid(t.typowner) <> 'fleetarc'
      AND NOT EXISTS (SELECT FROM pg_class c WHERE c.reltype = t.oid)  -- a table's row type follows it
  LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO fleetarc', r.typ);
  END LOOP;
END
$owner$;

-- The reporter: read everything, change nothing.
GRANT USAGE ON SCHEMA fleetarc TO fleetarc_reporter;
GRANT SELECT ON ALL TABLES IN SCHEMA fleetarc TO fleetarc_reporter;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA fleetarc TO fleetarc_reporter;
-- Report functions run with the caller's rights (SECURITY INVOKER), so the helpers they
-- call (track_clean, motion_*, haversine_km...) need EXECUTE too: grant all, then take
-- back the two that do DDL (they would fail for a non-owner anyway; this says so).
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA fleetarc TO fleetarc_reporter;
DO $ddl$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN
    SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'fleetarc' AND p.proname IN ('ensure_partitions', 'drop_partitions_before')
  LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, fleetarc_reporter', f);
  END LOOP;
END
$ddl$;

-- Future objects the writer creates (next months' partitions, tables and functions of
-- later migrations) are readable by the reporter without running this file again.
ALTER DEFAULT PRIVILEGES FOR ROLE fleetarc IN SCHEMA fleetarc
  GRANT SELECT ON TABLES TO fleetarc_reporter;
ALTER DEFAULT PRIVILEGES FOR ROLE fleetarc IN SCHEMA fleetarc
  GRANT SELECT ON SEQUENCES TO fleetarc_reporter;
ALTER DEFAULT PRIVILEGES FOR ROLE fleetarc IN SCHEMA fleetarc
  GRANT EXECUTE ON FUNCTIONS TO fleetarc_reporter;

-- Nobody else creates objects in public of this database.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
