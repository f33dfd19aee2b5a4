/*
 * mqtt_agent.h -- the MQTT side of the process-wide suspend/resume
 * (private to lib/core; built when configure found paho-mqtt-c).
 *
 * The agent runs in paho's threads. It subscribes to the request topic,
 * turns each valid payload into a command for the suspend worker
 * (pscom_susp_proc_post()) and publishes what the worker hands back:
 * answers on the response topic and the retained status. It never takes
 * the core's lock.
 */
#ifndef PSCOM_MQTT_AGENT_H_
#define PSCOM_MQTT_AGENT_H_

#include <stddef.h>

/** Connect to PSP_MQTT_BROKER in the background (a broker that is not
 * there is retried). Returns 0, or negative if the client could not even
 * be created (bad broker address: logged). */
int pscom_mqtt_start(void);

/** From the suspend worker's tick: retry a first connection that
 * failed (paho itself only reconnects a session it had), and hand
 * queued answers to paho. */
void pscom_mqtt_tick(void);

/** Publish the last status with a clean "exited" state and disconnect. */
void pscom_mqtt_stop(void);

/** Publish "<pid> : <word>" on the response topic (not retained), in
 * order behind earlier answers: each is queued and handed to paho as it
 * acknowledges earlier ones, so none is lost to paho's buffer limit.
 * Worker thread only. */
void pscom_mqtt_answer(const char *word);

/** Publish json as the retained status (also re-sent after every
 * reconnect). */
void pscom_mqtt_status(const char *json);

/** Parse one request payload (len bytes, not NUL-terminated) for process
 * pid. Returns the command (enum pscom_susp_cmd) or -1 when it is not for
 * us (a pid list without our pid) and -2 when it is malformed (logged). */
int pscom_mqtt_parse(const char *payload, size_t len, int pid);

#endif /* PSCOM_MQTT_AGENT_H_ */
