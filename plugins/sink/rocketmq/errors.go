package rocketmq

import "errors"

var (
	// errTopicNotFound is returned (wrapped) by a transport when the name servers have no
	// route for a topic.
	errTopicNotFound = errors.New("topic does not exist")
	// errNotOpen is returned by Write before Open or after Close.
	errNotOpen = errors.New("rocketmq sink is not open")
	// errTooLarge is the cause of the permanent error for a record over max_message_bytes.
	errTooLarge = errors.New("message too large")
	// errAuth is the cause of the permanent error for rejected credentials.
	errAuth = errors.New("access denied by the broker")
)
