package rocketmq

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ferry-cdc/ferry/sdk"
)

// Names of the sink's prechecks.
const (
	CheckConnectivity = "rocketmq_connectivity"
	CheckTopic        = "rocketmq_topic"
)

// Precheck implements sdk.Prechecker: the name servers (or proxy) answer with the credentials
// given, and the default topic exists with writable queues (or will be created).
func (s *Sink) Precheck(ctx context.Context) ([]sdk.Check, error) {
	where := strings.Join(s.cfg.NameServers, ",")
	if s.cfg.Transport == transportGRPC {
		where = s.cfg.Endpoint
	}
	tr, err := s.newTransport(s.cfg, s.instanceName()+"-precheck")
	if err != nil {
		return []sdk.Check{{Name: CheckConnectivity, Status: sdk.CheckFail,
			Detail:      fmt.Sprintf("cannot create a producer for %s: %v", where, err),
			Consequence: "the pipeline cannot deliver"}}, nil
	}
	defer tr.Close()
	checks := []sdk.Check{{Name: CheckConnectivity, Status: sdk.CheckPass, Detail: "producer for " + where}}
	if s.cfg.Topic == "" {
		checks = append(checks, sdk.Check{Name: CheckTopic, Status: sdk.CheckWarn,
			Detail:      "no default topic is set: every record must carry its topic",
			Consequence: "a record without a topic stops the pipeline"})
		return checks, nil
	}
	qs, err := tr.Queues(ctx, s.cfg.Topic)
	switch {
	case err == nil && len(qs) > 0:
		checks = append(checks, sdk.Check{Name: CheckTopic, Status: sdk.CheckPass,
			Detail: fmt.Sprintf("topic %s has %d writable queues", s.cfg.Topic, len(qs))})
	case s.cfg.AutoCreateTopic && (err == nil || errors.Is(err, errTopicNotFound)):
		checks = append(checks, sdk.Check{Name: CheckTopic, Status: sdk.CheckWarn,
			Detail:      fmt.Sprintf("topic %s does not exist; auto_create_topic creates it on the first send", s.cfg.Topic),
			Consequence: "the topic gets the broker's default queue count"})
	case err == nil || errors.Is(err, errTopicNotFound):
		checks = append(checks, sdk.Check{Name: CheckTopic, Status: sdk.CheckFail,
			Detail:      fmt.Sprintf("topic %s does not exist on %s (%s)", s.cfg.Topic, where, missingTopicHint(&s.cfg, s.cfg.Topic)),
			Consequence: "every write fails and the pipeline stops"})
	default:
		checks[0] = sdk.Check{Name: CheckConnectivity, Status: sdk.CheckFail,
			Detail: fmt.Sprintf("%s: %v", where, err), Consequence: "the pipeline cannot deliver"}
	}
	return checks, nil
}

// missingTopicHint says how to get a topic that does not exist: create it, or (remoting
// only: the gRPC proxy never creates topics, and validate refuses auto_create_topic with
// it) let the broker create it on the first send.
func missingTopicHint(c *config, topic string) string {
	if c.Transport == transportGRPC {
		return fmt.Sprintf("create it as a FIFO topic, for example `mqadmin updateTopic -t %s -c <cluster> -r 8 -w 8 -a +message.type=FIFO`", topic)
	}
	return fmt.Sprintf("create it, for example `mqadmin updateTopic -t %s -c <cluster> -r 8 -w 8`, or set auto_create_topic = true", topic)
}
