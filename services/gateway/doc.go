// Package gateway serves Ditto's HTTP API v2 for things and policies: it
// authenticates the caller, maps every request to one Ditto Protocol command
// envelope, sends it over NATS request/reply to the service owning the
// entity, and maps the reply back to the status, headers and JSON Ditto
// answers with. It owns nothing persistent.
//
// Routes: /api/2/things (GET ?ids=, POST), /api/2/things/{id} and its
// policyId, definition, attributes and features sub-resources;
// /api/2/policies (POST), /api/2/policies/{id} with entries, subjects,
// resources and imports; /api/2/search/things and
// /api/2/search/things/count (GET, or POST with a form body);
// /api/2/whoami; /health; /status[/health] (this gateway instance) and
// /overall/status[/health] (every service instance, status.go);
// /devops/logging[/{service}[/{instance}]] (devops.go). Other paths answer
// Ditto's plain 404.
//
// Subjects requested (see streams): <prefix>.things.commands.<shard> and
// <prefix>.policies.commands.<shard>, with the NATS headers
// streams.HeaderAuth (the caller's subjects as a JSON array) and
// streams.HeaderEntity (the entity id). The shard is streams.Shard of the
// entity id. A request nobody serves (the shard's owner is moving) is
// retried until the command's timeout. An SSE history stream
// (ssehistory.go) sends retrieves with streams.HeaderHistory, one per page
// of the thing's persisted events; so does a WebSocket streaming
// subscription (wsstreaming.go), one page when its client has demand.
//
// Subjects served: <prefix>.gateway.streaming (in the queue group
// "gateway") and <prefix>.gateway.streaming.<instance>, where NATS clients
// run the same streaming subscriptions (natsstreaming.go).
//
// DevOps commands (Ditto's JSON, see internal/devops) are published with
// one reply inbox to <prefix>.devops.<service> of every service, or of one,
// or to <prefix>.devops.<service>.<instance>; the answers are collected
// until the timeout (the first for one instance). /overall/status sends
// status.commands:retrieveStatus and retrieveHealth to the group subject of
// every known service and collects for HEALTH_CHECK_SERVICE_TIMEOUT.
//
// Searches are requests on <prefix>.things-search.queries
// (streams.Names.SearchQueries) in the contract of internal/searchapi, with
// the caller's subjects in streams.HeaderAuth; the search service's status
// and body are the answer. A thing modification whose requested-acks holds
// search-persisted also waits there until the search index holds the
// revision the change produced (the reply's entity-revision header), and is
// answered with Ditto's aggregated acknowledgements (see acks.go).
//
// Authentication stands in for Ditto's stock deployment, where nginx checks
// basic auth and passes "nginx:<user>" as pre-authenticated subject: users
// come from an htpasswd-style file of bcrypt hashes (GATEWAY_USERS_FILE),
// and the x-ditto-pre-authenticated header is trusted only when
// ENABLE_PRE_AUTHENTICATION is set. Bearer tokens of the configured OpenID
// Connect issuers authenticate as Ditto's gateway does it (jwt.go), and
// are what the policy actions need (servePolicyAction). CORS is answered
// as that deployment's nginx answers it.
//
// Commands go out through internal/command's Client, which the services
// use too; Gateway.Commands hands it to other endpoints (WebSocket).
package gateway
