-- 070_coverage.sql: one coverage per device and stream, shared by `run` and every
-- `backfill` (issue 12). A row says that every record of the stream with a time in
-- [from_time, to_time] (both inclusive, whole seconds) is stored: playback on gpstime,
-- alarms on the platform's system time (how the API pages them). Intervals are written
-- by the archiver in the same transaction as the rows they cover (coverage_add), so a
-- committed interval never claims a row that is not committed. Daily mileage keeps its
-- cursors in fleetarc.cursors (one upserted row per day: nothing to duplicate).
CREATE TABLE fleetarc.coverage_intervals (
  imei        text NOT NULL,
  stream      text NOT NULL CHECK (stream IN ('playback', 'alarms')),
  from_time   timestamptz NOT NULL,
  to_time     timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (imei, stream, from_time),
  CHECK (to_time >= from_time)
);

-- coverage_add(imei, stream, from, to): records [from, to] as covered, merged with the
-- intervals it overlaps or touches (within one second) into one row. Returns 1 (0 for an
-- empty interval). Two writers racing on one device may leave overlapping rows: harmless,
-- every reader (the view, the archiver's startup read) merges them, and the next write
-- merges them for good.
CREATE FUNCTION fleetarc.coverage_add(p_imei text, p_stream text, p_from timestamptz,
                                      p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
  lo timestamptz;
  hi timestamptz;
BEGIN
  IF p_from IS NULL OR p_to IS NULL OR p_to < p_from THEN
    RETURN 0;
  END IF;
  WITH d AS (
    DELETE FROM fleetarc.coverage_intervals
     WHERE imei = p_imei AND stream = p_stream
       AND from_time <= p_to + interval '1 second'
       AND to_time >= p_from - interval '1 second'
    RETURNING from_time, to_time)
  SELECT least(p_from, min(d.from_time)), greatest(p_to, max(d.to_time)) INTO lo, hi FROM d;
  INSERT INTO fleetarc.coverage_intervals AS c (imei, stream, from_time, to_time)
  VALUES (p_imei, p_stream, lo, hi)
  ON CONFLICT (imei, stream, from_time)
  DO UPDATE SET to_time = greatest(c.to_time, excluded.to_time), updated_at = now();
  RETURN 1;
END
$$;

COMMENT ON FUNCTION fleetarc.coverage_add(text, text, timestamptz, timestamptz) IS
  'Records [from, to] of (imei, stream) as archived, merged with the intervals it touches.';

-- The coverage, merged: one row per maximal covered interval (rows that overlap or touch
-- within one second are one interval). "from" and "to" are inclusive.
CREATE VIEW fleetarc.coverage AS
WITH o AS (
  SELECT imei, stream, from_time, to_time,
         max(to_time) OVER (PARTITION BY imei, stream ORDER BY from_time, to_time
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_to
    FROM fleetarc.coverage_intervals),
g AS (
  SELECT imei, stream, from_time, to_time,
         count(*) FILTER (WHERE prev_to IS NULL OR from_time > prev_to + interval '1 second')
           OVER (PARTITION BY imei, stream ORDER BY from_time, to_time) AS island
    FROM o)
SELECT imei, stream, min(from_time) AS "from", max(to_time) AS "to"
  FROM g GROUP BY imei, stream, island;

COMMENT ON VIEW fleetarc.coverage IS
  'What is archived: per device and stream (playback, alarms), the covered intervals [from, to].';
