package policies

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

// A policy never has metadata, as in Ditto: its command strategies compute
// none (AbstractPolicyCommandStrategy.calculateRelativeMetadata returns
// Optional.empty()) and CreatePolicyStrategy sets that empty metadata on the
// new policy, dropping a "_metadata" of the body. So put-metadata is
// accepted and ignored, "_metadata" in a body is dropped, fields=_metadata
// selects nothing, get-metadata answers no ditto-metadata, and neither
// events nor snapshots carry metadata, before and after a restart.
func TestPolicyMetadataNeverWritten(t *testing.T) {
	t.Parallel()
	for _, threshold := range []int64{500, 2} {
		t.Run(fmt.Sprint("snapshot every ", threshold), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			cfg := testConfig()
			cfg.SnapshotThreshold = threshold
			stop := f.start(t, cfg)
			id := f.newID()
			putMeta := protocol.Headers{protocol.HeaderPutMetadata: `[{"key":"*/unit","value":"m"},{"key":"entries/owner/by","value":"x"}]`}

			// Created with put-metadata and with "_metadata" in the body.
			body := basePolicy[:len(basePolicy)-1] + `,"_metadata":{"entries":{"owner":{"by":"body"}}}}`
			env := f.send(t, id, "create", "/", body, putMeta, owner)
			if env.Status != 201 {
				t.Fatalf("create: %d %s", env.Status, env.Value)
			}
			if bytes.Contains(env.Value, []byte("_metadata")) {
				t.Errorf("created policy %s carries _metadata", env.Value)
			}
			// Modified, whole and in part, with put-metadata.
			for _, c := range []struct{ path, value string }{
				{"/", basePolicy},
				{"/entries/reader/subjects/nginx:other", `{"type":"t"}`},
			} {
				if env := f.send(t, id, "modify", c.path, c.value, putMeta, owner); env.Status/100 != 2 {
					t.Fatalf("modify %s: %d %s", c.path, env.Status, env.Value)
				}
			}

			check := func(t *testing.T, when string) {
				t.Helper()
				for _, c := range []struct{ fields, want string }{
					{"_metadata", `{}`},
					{"_metadata/entries", `{}`},
					{"_metadata,_revision", `{"_revision":3}`},
				} {
					env := f.send(t, id, "retrieve", "/", "", protocol.Headers{"x-fields": c.fields}, owner)
					if env.Status != 200 {
						t.Fatalf("%s: retrieve fields=%s: %d %s", when, c.fields, env.Status, env.Value)
					}
					jsonEqual(t, when+": fields="+c.fields, env.Value, c.want)
				}
				env := f.send(t, id, "retrieve", "/", "", protocol.Headers{protocol.HeaderGetMetadata: "*"}, owner)
				if env.Status != 200 || bytes.Contains(env.Value, []byte("_metadata")) {
					t.Errorf("%s: retrieve = %d %s, want 200 without _metadata", when, env.Status, env.Value)
				}
				if v, ok := env.Headers[protocol.HeaderDittoMetadata]; ok {
					t.Errorf("%s: get-metadata answered ditto-metadata %s, want none", when, v)
				}
			}
			check(t, "before restart")

			ctx := context.Background()
			events, err := f.j.Events(ctx, "policy:"+id, 1, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 3 {
				t.Fatalf("journal holds %d events, want 3", len(events))
			}
			for _, e := range events {
				ev, err := protocol.DecodeEnvelope(e.Payload)
				if err != nil {
					t.Fatalf("event %d: %v", e.SN, err)
				}
				if ev.Metadata != nil || bytes.Contains(ev.Value, []byte("_metadata")) {
					t.Errorf("event %d carries metadata: %s", e.SN, e.Payload)
				}
			}
			if snap, ok, err := f.j.LatestSnapshot(ctx, "policy:"+id, 100); err != nil {
				t.Fatal(err)
			} else if ok && bytes.Contains(snap.Payload, []byte("_metadata")) {
				t.Errorf("snapshot %d carries _metadata: %s", snap.SN, snap.Payload)
			} else if !ok && threshold == 2 {
				t.Error("no snapshot taken")
			}

			stop()
			f.start(t, cfg)
			check(t, "after restart")
		})
	}
}
