-- 096_leases.sql: several `run` instances on one database (issue 19). Each account is
-- worked by the one instance that holds its lease (archive/lease.c explains the design).
-- A lease is free when expires_at has passed; taking it bumps the generation. Every batch
-- of rows checks, inside its own transaction, that its instance still holds each account
-- it writes for at the generation it was fetched under (lease_fence), and keeps the lease
-- row share-locked until its COMMIT: a taker waits for that COMMIT, and a batch of a lost
-- lease is rolled back.
CREATE TABLE fleetarc.leases (
  account    text PRIMARY KEY,
  holder     text,                                 -- cluster.instance; NULL: never held
  generation bigint NOT NULL DEFAULT 0,            -- +1 at every take
  expires_at timestamptz NOT NULL DEFAULT '-infinity',
  taken_at   timestamptz
);

-- lease_fence(accounts, generations, holder): raises SQLSTATE FL001 unless holder holds
-- every account at its generation, unexpired; share-locks the rows until the end of the
-- transaction.
CREATE FUNCTION fleetarc.lease_fence(p_accounts text[], p_gens bigint[], p_holder text)
RETURNS integer
LANGUAGE plpgsql
AS $$
BEGIN
  FOR i IN 1 .. coalesce(cardinality(p_accounts), 0) LOOP
    PERFORM 1 FROM fleetarc.leases
      WHERE account = p_accounts[i] AND holder = p_holder AND generation = p_gens[i]
        AND expires_at > clock_timestamp()
      FOR SHARE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'lease of account % (generation %) is no longer held by %',
        p_accounts[i], p_gens[i], p_holder USING ERRCODE = 'FL001';
    END IF;
  END LOOP;
  RETURN coalesce(cardinality(p_accounts), 0);
END
$$;

-- lease_take(account, holder, ttl_s): takes a free (or expired) lease; returns the new
-- generation, or NULL when another instance holds it.
CREATE FUNCTION fleetarc.lease_take(p_account text, p_holder text, p_ttl_s double precision)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE g bigint;
BEGIN
  INSERT INTO fleetarc.leases (account) VALUES (p_account) ON CONFLICT DO NOTHING;
  UPDATE fleetarc.leases SET holder = p_holder, generation = generation + 1,
         expires_at = clock_timestamp() + make_interval(secs => p_ttl_s),
         taken_at = clock_timestamp()
    WHERE account = p_account AND expires_at <= clock_timestamp()
    RETURNING generation INTO g;
  RETURN g;
END
$$;

-- lease_renew(account, holder, generation, ttl_s): true when still held (and extended).
CREATE FUNCTION fleetarc.lease_renew(p_account text, p_holder text, p_gen bigint,
                                     p_ttl_s double precision)
RETURNS boolean
LANGUAGE sql
AS $$
  WITH u AS (
    UPDATE fleetarc.leases SET expires_at = clock_timestamp() + make_interval(secs => p_ttl_s)
      WHERE account = p_account AND holder = p_holder AND generation = p_gen
        AND expires_at > clock_timestamp()
      RETURNING 1)
  SELECT count(*) > 0 FROM u;
$$;

-- The instances alive (a heartbeat per lease round), so that each takes about its share
-- of the accounts: lease_share(instance, ttl_s, accounts) records the heartbeat and
-- returns ceil(accounts / live instances).
CREATE TABLE fleetarc.lease_instances (
  instance   text PRIMARY KEY,
  seen_until timestamptz NOT NULL
);

CREATE FUNCTION fleetarc.lease_share(p_instance text, p_ttl_s double precision,
                                     p_accounts integer)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE n integer;
BEGIN
  INSERT INTO fleetarc.lease_instances AS i (instance, seen_until)
    VALUES (p_instance, clock_timestamp() + make_interval(secs => p_ttl_s))
    ON CONFLICT (instance) DO UPDATE SET seen_until = excluded.seen_until;
  DELETE FROM fleetarc.lease_instances WHERE seen_until < clock_timestamp() - interval '1 day';
  SELECT count(*) INTO n FROM fleetarc.lease_instances WHERE seen_until > clock_timestamp();
  RETURN (p_accounts + greatest(n, 1) - 1) / greatest(n, 1);
END
$$;

-- lease_release(account, holder, generation): frees a lease this holder holds (a clean
-- stop, or giving an account away to balance), so that another takes it at once.
CREATE FUNCTION fleetarc.lease_release(p_account text, p_holder text, p_gen bigint)
RETURNS boolean
LANGUAGE sql
AS $$
  WITH u AS (
    UPDATE fleetarc.leases SET expires_at = clock_timestamp()
      WHERE account = p_account AND holder = p_holder AND generation = p_gen
      RETURNING 1)
  SELECT count(*) > 0 FROM u;
$$;
