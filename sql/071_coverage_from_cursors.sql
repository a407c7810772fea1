-- 071_coverage_from_cursors.sql: the cursors of playback and alarms become coverage.
-- Mileage keeps its cursors. What each old cursor proves:
--  - 'playback' C (run): positions up to C are stored from the device's first stored
--    position on (or C alone when none is stored).
--  - 'alarms' C (run): alarms with a system time before C (the alarms at C itself were
--    asked again by the next page), from the first stored one on.
--  - 'playback@F-T' C (backfill of [F, T)): [F, C].
--  - 'alarms@F-T' C: such a backfill asked alarms by system time over [F, T - 1 + 6 h]
--    but kept only those with a gpstime in [F, T): by system time only
--    [F + 6 h, min(C - 1, T - 1)] is surely complete.
SELECT fleetarc.coverage_add(c.imei, 'playback',
                             least(c.cursor, (SELECT min(p.gpstime) FROM fleetarc.positions p
                                               WHERE p.imei = c.imei)),
                             c.cursor)
  FROM fleetarc.cursors c WHERE c.stream = 'playback';

SELECT fleetarc.coverage_add(c.imei, 'alarms',
                             least(c.cursor - interval '1 second',
                                   (SELECT min(a.systemtime) FROM fleetarc.alarms a
                                     WHERE a.imei = c.imei)),
                             c.cursor - interval '1 second')
  FROM fleetarc.cursors c WHERE c.stream = 'alarms';

SELECT fleetarc.coverage_add(k.imei, 'playback', to_timestamp(k.f), k.cursor)
  FROM (SELECT imei, cursor, substring(stream FROM '^playback@([0-9]+)-')::bigint AS f
          FROM fleetarc.cursors WHERE stream ~ '^playback@[0-9]+-[0-9]+$') k;

SELECT fleetarc.coverage_add(k.imei, 'alarms', to_timestamp(k.f + 6 * 3600),
                             least(k.cursor - interval '1 second', to_timestamp(k.t - 1)))
  FROM (SELECT imei, cursor, substring(stream FROM '^alarms@([0-9]+)-')::bigint AS f,
               substring(stream FROM '^alarms@[0-9]+-([0-9]+)$')::bigint AS t
          FROM fleetarc.cursors WHERE stream ~ '^alarms@[0-9]+-[0-9]+$') k;

DELETE FROM fleetarc.cursors WHERE stream ~ '^(playback|alarms)(@|$)';
