-- 130_tokens.sql: access tokens shared through the database by the instances of a cluster
-- (issue 19), so that an account that changes holder (a failover, a new instance taking its
-- share) keeps its token instead of a login on the new host: one login per token lifetime
-- and account, across hosts.
--
-- Secrets at rest: the tokens live in their own schema, fleetarc_secret, on which no role
-- but the owner (the writer role that runs `fleetarc migrate` and `run`) has USAGE:
-- deploy/roles.sql grants fleetarc_reporter the schema fleetarc only, so neither the
-- table nor the functions below are reachable by reports or dashboards. A token is
-- stored only by the account's lease holder (fenced by holder and generation), with a
-- fingerprint of the credentials it was obtained with (md5 of a salt, the API's base URL
-- and the password's md5: no secret by itself), so that a changed password or another
-- platform never adopts it.
CREATE SCHEMA IF NOT EXISTS fleetarc_secret;
REVOKE ALL ON SCHEMA fleetarc_secret FROM PUBLIC;

CREATE TABLE IF NOT EXISTS fleetarc_secret.tokens (
  account     text PRIMARY KEY,
  token       text NOT NULL,
  credential  text NOT NULL,
  expires_at  timestamptz NOT NULL,
  obtained_by text NOT NULL,
  stored_at   timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON fleetarc_secret.tokens FROM PUBLIC;

-- token_put(account, holder, generation, token, credential, expires_at_s): stores the
-- holder's token while it holds the account's lease at that generation; false otherwise.
CREATE OR REPLACE FUNCTION fleetarc_secret.token_put(p_account text, p_holder text, p_gen bigint,
                                                     p_token text, p_credential text,
                                                     p_expires_s double precision)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM 1 FROM fleetarc.leases
    WHERE account = p_account AND holder = p_holder AND generation = p_gen
      AND expires_at > clock_timestamp();
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO fleetarc_secret.tokens AS t (account, token, credential, expires_at, obtained_by)
    VALUES (p_account, p_token, p_credential, to_timestamp(p_expires_s), p_holder)
    ON CONFLICT (account) DO UPDATE
      SET token = excluded.token, credential = excluded.credential,
          expires_at = excluded.expires_at, obtained_by = excluded.obtained_by,
          stored_at = now();
  RETURN true;
END
$$;
REVOKE ALL ON FUNCTION fleetarc_secret.token_put(text, text, bigint, text, text, double precision) FROM PUBLIC;
