/* The 44 alarm types of spec 2.8 by code: one table shared by the command line, the
 * reports and the alarm_types rows of the database. */
#ifndef FLEETARC_API_ALARM_TYPES_H
#define FLEETARC_API_ALARM_TYPES_H

#define API_ALARM_TYPE_MIN 1
#define API_ALARM_TYPE_MAX 44

/* The spec's name of code ("sosAlarm" for 1), or NULL for a code it does not list
 * (the server may send newer types: callers show the number then). Static storage. */
const char *api_alarm_type_name(int code);

#endif
