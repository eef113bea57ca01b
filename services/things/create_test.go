package things

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// If-Match on a thing that does not exist fails before anything is
// created: the handler has no policy client here, so reaching the policy
// creation would panic.
func TestIfMatchOnMissingThingCreatesNothing(t *testing.T) {
	t.Parallel()
	const id = "org.eclipse.ditto:missing"
	// The message names the matchers as Ditto's EntityTagMatchers prints
	// them: joined with "," and no blanks.
	tests := []struct {
		name, action, ifMatch, named string
	}{
		{"put with star", protocol.ActionModify, "*", "*"},
		{"put with a tag", protocol.ActionModify, `"rev:1"`, `"rev:1"`},
		{"put with a list", protocol.ActionModify, `"rev:1", "rev:2"`, `"rev:1","rev:2"`},
		{"create with star", protocol.ActionCreate, "*", "*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic := protocol.Topic{Namespace: "org.eclipse.ditto", EntityName: "missing", Group: protocol.GroupThings,
				Channel: protocol.ChannelTwin, Criterion: protocol.CriterionCommands, Action: tt.action}
			cmd := &entity.Command{
				Envelope: protocol.Envelope{Topic: topic.String(), Path: "/", Value: []byte(`{"attributes":{"a":1}}`),
					Headers: protocol.Headers{protocol.HeaderIfMatch: tt.ifMatch}},
				Topic: topic, EntityID: id, Auth: []string{"nginx:ditto"},
			}
			h := &handler{}
			out, err := h.Handle(context.Background(), cmd, &entity.State{ID: id})
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != protocol.CodeThingPreconditionFailed || perr.Status != 412 {
				t.Fatalf("got %+v, %v; want 412 %s", out, err, protocol.CodeThingPreconditionFailed)
			}
			if want := "Header value: '" + tt.named + "', actual entity-tag: 'null'."; !strings.HasSuffix(perr.Message, want) {
				t.Errorf("message %q, want it to end with %q", perr.Message, want)
			}
			if out.Event != nil {
				t.Errorf("event %+v, want none", out.Event)
			}
		})
	}
}

// A thing nested deeper than the parser reads is refused, whatever its
// size limit (0: none).
func TestCheckDocumentDepth(t *testing.T) {
	t.Parallel()
	deep := func(n int) jsonv.Value {
		p := make(jsonv.Pointer, n-1)
		for i := range p {
			p[i] = "d"
		}
		return jsonv.MustParse(`{"thingId":"ns:t"}`).Set(append(jsonv.Pointer{"attributes"}, p...), jsonv.Int(1))
	}
	for _, max := range []int{0, 1 << 30} {
		h := &handler{maxThingSize: max}
		if err := h.checkDocument(deep(jsonv.MaxDepth)); err != nil {
			t.Errorf("limit %d, depth %d: got %v, want accepted", max, jsonv.MaxDepth, err)
		}
		err := h.checkDocument(deep(jsonv.MaxDepth + 1))
		if !errors.Is(err, jsonv.ErrInvalidJSON) {
			t.Errorf("limit %d, depth %d: got %v, want %s", max, jsonv.MaxDepth+1, err, jsonv.CodeInvalidJSON)
		}
	}
}
