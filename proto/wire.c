/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wire: names and user-facing texts of the protocol's numbers, kept beside
 * the numbers table so that logs, the CLI and the spec use the same words.
 */
#include "proto/wire.h"

const char *
wire_type_name(uint8_t type)
{
	switch (type) {
	case WIRE_HELLO:
		return "HELLO";
	case WIRE_PING:
		return "PING";
	case WIRE_PONG:
		return "PONG";
	case WIRE_GOAWAY:
		return "GOAWAY";
	case WIRE_OPEN:
		return "OPEN";
	case WIRE_OPEN_RESULT:
		return "OPEN_RESULT";
	case WIRE_DATA:
		return "DATA";
	case WIRE_WINDOW:
		return "WINDOW";
	case WIRE_FIN:
		return "FIN";
	case WIRE_RESET:
		return "RESET";
	case WIRE_DNS_QUERY:
		return "DNS_QUERY";
	case WIRE_DNS_ANSWER:
		return "DNS_ANSWER";
	case WIRE_ENV_REQUEST:
		return "ENV_REQUEST";
	case WIRE_ENV_REPLY:
		return "ENV_REPLY";
	}
	return NULL;
}

static const struct {
	uint32_t code;
	const char *name;
	const char *text;
} wire_errors[] = {
    {WIRE_OK, "OK", "success"},
    {WIRE_ERR_PROTOCOL, "PROTOCOL", "protocol violation by the peer"},
    {WIRE_ERR_INTERNAL, "INTERNAL", "internal error in the peer"},
    {WIRE_ERR_FLOW_CONTROL, "FLOW_CONTROL", "flow-control window exceeded"},
    {WIRE_ERR_STREAM_CLOSED, "STREAM_CLOSED", "frame for a closed stream"},
    {WIRE_ERR_FRAME_SIZE, "FRAME_SIZE", "frame length invalid or too large"},
    {WIRE_ERR_BAD_VERSION, "BAD_VERSION", "no common protocol version"},
    {WIRE_ERR_UNKNOWN_TYPE, "UNKNOWN_TYPE", "unknown frame type"},
    {WIRE_ERR_TRUNCATED, "TRUNCATED", "connection ended inside a frame"},
    {WIRE_ERR_SHUTDOWN, "SHUTDOWN", "the peer is shutting down"},
    {WIRE_ERR_CANCEL, "CANCEL", "stream cancelled"},
    {WIRE_ERR_RESOURCE, "RESOURCE", "a resource limit was reached"},
    {WIRE_ERR_REFUSED, "REFUSED", "connection refused by the destination"},
    {WIRE_ERR_UNREACHABLE, "UNREACHABLE",
        "destination network or host unreachable"},
    {WIRE_ERR_TIMEOUT, "TIMEOUT", "timed out"},
    {WIRE_ERR_NAME_NOT_FOUND, "NAME_NOT_FOUND", "host name not found"},
    {WIRE_ERR_NAME_FAILURE, "NAME_FAILURE", "name resolution failed"},
    {WIRE_ERR_CONN_RESET, "CONN_RESET", "connection reset by the destination"},
    {WIRE_ERR_PROHIBITED, "PROHIBITED", "destination not allowed"},
    {WIRE_ERR_UNSUPPORTED, "UNSUPPORTED", "request not supported by the peer"},
};

const char *
wire_error_name(uint32_t err)
{
	for (size_t i = 0; i < sizeof(wire_errors) / sizeof(*wire_errors); i++)
		if (wire_errors[i].code == err)
			return wire_errors[i].name;
	return "UNKNOWN";
}

const char *
wire_error_text(uint32_t err)
{
	for (size_t i = 0; i < sizeof(wire_errors) / sizeof(*wire_errors); i++)
		if (wire_errors[i].code == err)
			return wire_errors[i].text;
	return "unknown error";
}
