-- 010_backfill_cursors.sql: cursors of `fleetarc backfill` ranges. A backfill of
-- [FROM, TO) keeps its own cursor per device and stream, named 'playback@FROM-TO' (UNIX
-- seconds), so that resuming a backfill never moves, nor is moved by, the run's cursors
-- ('playback', 'alarms', 'mileage'): a backfill ahead of the run must not let the run
-- skip the gap between them.
ALTER TABLE fleetarc.cursors DROP CONSTRAINT IF EXISTS cursors_stream_check;
ALTER TABLE fleetarc.cursors ADD CONSTRAINT cursors_stream_check
  CHECK (stream ~ '^(playback|alarms|mileage)(@[0-9]+-[0-9]+)?$');
