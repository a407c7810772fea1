-- 072_gaps.sql: gap healing (issue 23). Trackers buffer fixes while out of coverage and
-- upload them later; the platform files them under their own gpstime, behind a playback
-- cursor that has passed it. The archiver records each silence of a moving device's
-- stored track (archive/gapheal.h) as a gap and asks its window again after a settle
-- period, at most archive.gap_max_attempts times. A row is written in the same
-- transaction as the rows of the page that revealed it (so a restart loses none), and
-- again with the rows of each ask (so a restart repeats none). Healed windows stay as
-- the record of what was asked: the archive's coverage of those windows is complete.
CREATE TABLE fleetarc.gaps (
  imei        text NOT NULL,
  stream      text NOT NULL CHECK (stream IN ('playback')),
  from_time   timestamptz NOT NULL,  -- the window, both ends inclusive
  to_time     timestamptz NOT NULL,
  detected_at timestamptz NOT NULL,  -- platform time of the page that revealed it
  next_at     timestamptz NOT NULL,  -- due from this platform time on (while open)
  last_asked  timestamptz,           -- platform time of the last ask
  attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0), -- asks that brought nothing
  recovered   bigint NOT NULL DEFAULT 0 CHECK (recovered >= 0), -- positions the asks stored
  healed_at   timestamptz,           -- NULL: open
  PRIMARY KEY (imei, stream, from_time, to_time),
  CHECK (to_time >= from_time)
);

CREATE INDEX gaps_open ON fleetarc.gaps (imei) WHERE healed_at IS NULL;

-- gap_put(...): inserts the gap or updates it. A healed gap stays healed, and counters
-- never go back (a replayed older write changes nothing).
CREATE FUNCTION fleetarc.gap_put(p_imei text, p_stream text, p_from timestamptz,
                                 p_to timestamptz, p_detected timestamptz,
                                 p_next timestamptz, p_last_asked timestamptz,
                                 p_attempts integer, p_recovered bigint,
                                 p_healed timestamptz)
RETURNS integer
LANGUAGE sql
AS $$
  INSERT INTO fleetarc.gaps AS g (imei, stream, from_time, to_time, detected_at, next_at,
                                  last_asked, attempts, recovered, healed_at)
  VALUES (p_imei, p_stream, p_from, p_to, p_detected, p_next, p_last_asked, p_attempts,
          p_recovered, p_healed)
  ON CONFLICT (imei, stream, from_time, to_time) DO UPDATE SET
    next_at = CASE WHEN g.healed_at IS NULL THEN greatest(g.next_at, excluded.next_at)
                   ELSE g.next_at END,
    last_asked = greatest(g.last_asked, excluded.last_asked),
    attempts = greatest(g.attempts, excluded.attempts),
    recovered = greatest(g.recovered, excluded.recovered),
    healed_at = coalesce(g.healed_at, excluded.healed_at);
  SELECT 1;
$$;

COMMENT ON TABLE fleetarc.gaps IS
  'Silences in a moving device''s stored track asked again for late uploads (issue 23).';
