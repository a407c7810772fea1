/* Spec 2.8's alarm type table, copied in code order (index = code). */
#include "api/alarm_types.h"

#include <stddef.h>

static const char *const names[API_ALARM_TYPE_MAX + 1] = {
  NULL,
  "sosAlarm", /* 1 */
  "lowBatteryAlarm", /* 2 */
  "powerDisconnectAlarm", /* 3 */
  "vibrationAlarm", /* 4 */
  "geoFenceInAlarm", /* 5 */
  "geoFenceOutAlarm", /* 6 */
  "speedingAlarm", /* 7 */
  "carMoveAlarm", /* 8 */
  "engineOn", /* 9 */
  "engineOff", /* 10 */
  "tireTemperatureAlarm", /* 11 */
  "tireLeakPressureAlarm", /* 12 */
  "tireLowPressureAlarm", /* 13 */
  "tireHighPressureAlarm", /* 14 */
  "gpsDeadZoneInAlarm", /* 15 */
  "gpsDeadZoneOutAlarm", /* 16 */
  "obdDtcAlarm", /* 17 */
  "disassembleAlarm", /* 18 */
  "powerOffAlarm", /* 19 */
  "collisionAlarm", /* 20 */
  "dropAlarm", /* 21 */
  "routeAlarm", /* 22 */
  "rapidAccelerationAlarm", /* 23 */
  "rapidDecelerationAlarm", /* 24 */
  "sharpTurnAlarm", /* 25 */
  "dooropenAlarm", /* 26 */
  "doorcloseAlarm", /* 27 */
  "offlineAlarm", /* 28 */
  "engineIdleAlarm", /* 29 */
  "parkingAlarm", /* 30 */
  "oilLeakAlertAlarm", /* 31 */
  "oilTheftAlertAlarm", /* 32 */
  "jammingAlarm", /* 33 */
  "restrictedDrivingAlarm", /* 34 */
  "lowTemperatureAlarm", /* 35 */
  "highTemperatureAlarm", /* 36 */
  "dumpSwitchOnAlarm", /* 37 */
  "dumpSwitchOffAlarm", /* 38 */
  "armAlarm", /* 39 */
  "rolloverAlarm", /* 40 */
  "fatigueDrivingAlarm", /* 41 */
  "lackBreakFatigueDrivingAlarm", /* 42 */
  "lowOilAlarm", /* 43 */
  "lowExternalBatteryAlarm", /* 44 */
};

const char *api_alarm_type_name(int code) {
  if (code < API_ALARM_TYPE_MIN || code > API_ALARM_TYPE_MAX) return NULL;
  return names[code];
}
