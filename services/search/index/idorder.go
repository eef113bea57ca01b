package index

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// idWalkBudget bounds the things byThingID checks before it leaves the
// query to the general statement: a filter matching fewer than one thing
// in idWalkBudget/page size is found faster through its own rows.
const idWalkBudget = 4096

// denseMatchesDefault is how many matching rows make a condition worth
// walking the things in order for (see Query): below it, collecting and
// sorting the matches costs less than the walk.
const denseMatchesDefault = 1000

func (ix *Index) denseMatches() int {
	if ix.opt.walkBatch > 0 {
		return 1 // tests walk whatever they can
	}
	return denseMatchesDefault
}

// idWalkBatch is how many things byThingID checks at once.
const idWalkBatch = 128

// byThingID answers a filtered page in thingId order (the default sort) by
// walking the things the caller sees in that order and checking them
// against the filter in batches, so a filter that matches many things
// costs a page, not every match. It reports false when the walk passed
// idWalkBudget things without filling the page; the caller then runs the
// general statement.
func (ix *view) byThingID(ctx context.Context, q Query, desc bool) ([]Hit, bool, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return nil, false, err
	}
	sets := strings.Split(b.vis, ",")
	want := q.Offset + q.Limit + 1
	after := ""
	if q.After != nil {
		after, _ = q.After[0].Str()
	}
	op, order := ">", "ASC"
	if desc {
		op, order = "<", "DESC"
	}
	batch, budget := idWalkBatch, idWalkBudget
	if ix.opt.walkBatch > 0 {
		batch, budget = ix.opt.walkBatch, ix.opt.walkBudget
	}
	type cand struct {
		id      int64
		thingID string
	}
	var hits []Hit
	for walked := 0; walked < budget; {
		// The next things in order: each visibility set's own next ones
		// from things_vis, merged.
		var cands []cand
		full := false // some set may have more things after these
		for _, set := range sets {
			text := "SELECT id, thing_id FROM things WHERE vis = ? ORDER BY thing_id " + order + " LIMIT ?"
			args := []any{set, batch}
			if after != "" || q.After != nil {
				text = "SELECT id, thing_id FROM things WHERE vis = ? AND thing_id " + op + " ? ORDER BY thing_id " + order + " LIMIT ?"
				args = []any{set, after, batch}
			}
			rows, err := ix.query(ctx, text, args...)
			if err != nil {
				return nil, false, fmt.Errorf("search: %w", err)
			}
			n := 0
			for rows.Next() {
				n++
				var c cand
				if err := rows.Scan(&c.id, &c.thingID); err != nil {
					rows.Close()
					return nil, false, fmt.Errorf("search: %w", err)
				}
				cands = append(cands, c)
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, false, fmt.Errorf("search: %w", err)
			}
			full = full || n == batch
		}
		slices.SortFunc(cands, func(x, y cand) int {
			if desc {
				return cmp.Compare(y.thingID, x.thingID)
			}
			return cmp.Compare(x.thingID, y.thingID)
		})
		last := !full && len(cands) <= batch // nothing visible after these
		cands = cands[:min(len(cands), batch)]
		if len(cands) == 0 {
			return cut(hits, q.Offset, want), true, nil
		}
		ids := make([]int64, len(cands))
		for i, c := range cands {
			ids[i] = c.id
		}
		found, err := ix.matching(ctx, q, ids)
		if err != nil {
			return nil, false, err
		}
		for _, c := range cands {
			h, ok := found[c.id]
			if !ok {
				continue
			}
			h.SortValues = []jsonv.Value{jsonv.String(h.ThingID)}
			hits = append(hits, h)
			if len(hits) >= want {
				return cut(hits, q.Offset, want), true, nil
			}
		}
		if last {
			return cut(hits, q.Offset, want), true, nil
		}
		after = cands[len(cands)-1].thingID
		walked += len(cands)
	}
	return nil, false, nil
}
