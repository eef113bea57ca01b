// Package devops owns a process's DevOps commands: the named loggers whose
// levels operators read and change at runtime (Ditto's "Dynamically adjust
// log levels"), and the NATS responder that answers Ditto's DevOps command
// JSON for one service instance.
//
// Subjects served, each by a plain subscription (no queue group, so every
// instance of a service answers a group request):
//   - <prefix>.devops.<service>: every instance of service;
//   - <prefix>.devops.<service>.<instance>: one instance.
//
// Commands answered: devops.commands:retrieveLoggerConfig and
// devops.commands:changeLogLevel, with Ditto's response JSON;
// status.commands:retrieveHealth with the instance's health as Ditto's
// StatusInfo (its NATS connection and the service's own checks), and
// status.commands:retrieveStatus with its static status (what Ditto's
// /status shows per instance). It writes no stream, bucket or collection.
package devops
