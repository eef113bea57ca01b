package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// scImportsRead reads things whose policy grants the bench user READ only
// through imports: each thing has a policy of its own that imports two
// template policies, one of them with a third through transitiveImports
// (issue 12's "3 imports, one transitively"); READ_THINGS' things have a
// plain policy. Both read at random at C connections, so the two rows
// compare what enforcing an imported grant costs.
const scImportsRead = "READ_IMPORTED"

// importedThings is how many things READ_IMPORTED reads.
func (r *runner) importedThings() int { return min(r.cfg.n, 10000) }

func (r *runner) importedNamespace() string { return r.cfg.namespace + ".imports" }

// importsRead creates the templates, the importing policies and their
// things, then reads the things.
func (r *runner) importsRead(ctx context.Context, t *target, ws []*worker, srv *proc, checked func() error) error {
	if !r.cfg.selected(scImportsRead) && !r.cfg.selected(scImportsChange) {
		return nil
	}
	ns := r.importedNamespace()
	name, _, _ := strings.Cut(r.cfg.user, ":")
	subject := "nginx:" + name
	owner := `"OWNER":{"subjects":{"` + subject + `":{"type":"bench"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}},"importable":"never"}`
	templates := []struct{ id, body string }{
		{ns + ":base", `{"entries":{` + owner + `,"reader":{"subjects":{"` + subject + `":{"type":"bench"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`},
		{ns + ":middle", `{"imports":{"` + ns + `:base":{}},"entries":{` + owner + `,"operator":{"subjects":{"` + subject + `":{"type":"bench"}},"resources":{"thing:/attributes":{"grant":["WRITE"],"revoke":[]}}}}}`},
		{ns + ":roles", `{"entries":{` + owner + `,"auditor":{"subjects":{"nginx:auditor":{"type":"bench"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`},
	}
	r.logf("%s: creating 3 template policies and %d things with importing policies", scImportsRead, r.importedThings())
	for _, tp := range templates {
		if _, err := ws[0].exchange(ctx, t, "PUT", "/api/2/policies/"+tp.id, "", []byte(tp.body), false); err != nil {
			return fmt.Errorf("%s: template %s: %w", scImportsRead, tp.id, err)
		}
	}
	policy := func(i int) []byte {
		return []byte(`{"imports":{"` + ns + `:roles":{},"` + ns + `:middle":{"transitiveImports":["` + ns + `:base"]}},"entries":{` +
			`"OWNER":{"subjects":{"` + subject + `":{"type":"bench"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["WRITE"],"revoke":[]}}}}}`)
	}
	create := &op{method: "PUT", path: func(i int) string { return "/api/2/policies/" + ns + ":p" + strconv.Itoa(i) },
		body: func(_ *worker, i int) []byte { return policy(i) }}
	p := runPhase(ctx, t, ws, create, sequentialPick(r.importedThings()), 0, false)
	if p.errs.total() > 0 {
		return fmt.Errorf("%s: creating the policies: %d errors %+v", scImportsRead, p.errs.total(), p.errs.sorted())
	}
	things := &op{method: "PUT", path: func(i int) string { return "/api/2/things/" + ns + ":t" + strconv.Itoa(i) },
		body: func(_ *worker, i int) []byte {
			return []byte(`{"policyId":"` + ns + `:p` + strconv.Itoa(i) + `","attributes":{"n":` + strconv.Itoa(i) + `}}`)
		}}
	p = runPhase(ctx, t, ws, things, sequentialPick(r.importedThings()), 0, false)
	if err := checked(); err != nil {
		return err
	}
	if p.errs.total() > 0 {
		return fmt.Errorf("%s: creating the things: %d errors %+v", scImportsRead, p.errs.total(), p.errs.sorted())
	}
	r.acked += p.ops
	read := &op{method: "GET", path: func(i int) string { return "/api/2/things/" + ns + ":t" + strconv.Itoa(i) }}
	res := r.load(ctx, scImportsRead, t, ws, srv, read)
	if err := checked(); err != nil {
		return err
	}
	res.Note = fmt.Sprintf("%d things, each with a policy importing 2 templates and a third through transitiveImports; READ granted only by the transitive one (the own entry grants WRITE)", r.importedThings())
	if rd, ok := r.rep.result(scRead); ok && rd.opsPerSec() > 0 {
		res.Note += fmt.Sprintf("; %.1f%% of READ_THINGS", 100*res.opsPerSec()/rd.opsPerSec())
	}
	r.add(res)

	// The same reads while the transitively imported template changes
	// every second (an entry of it that grants nothing to the reader):
	// each change drops every importing policy from the things service's
	// cache, and the next read of each thing loads and resolves it again.
	// The row's p99 is the pause the readers see.
	changes := 0
	w := newWorkers(1)[0]
	res = r.loadBeside(ctx, scImportsChange, t, ws, srv, read, func(phase context.Context) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-phase.Done():
				return
			case <-tick.C:
			}
			changes++
			body := `{"subjects":{"nginx:nobody-` + strconv.Itoa(changes) + `":{"type":"bench"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}`
			if _, err := w.exchange(phase, t, "PUT", "/api/2/policies/"+templates[0].id+"/entries/other", "", []byte(body), false); err != nil && phase.Err() == nil {
				r.logf("%s: change of the template: %v", scImportsChange, err)
			}
		}
	})
	if err := checked(); err != nil {
		return err
	}
	res.Note = fmt.Sprintf("READ_IMPORTED while the transitively imported template changed %d times (once a second): every change invalidates all %d importing policies", changes, r.importedThings())
	r.add(res)
	return nil
}

// scImportsChange is READ_IMPORTED while the imported template changes.
const scImportsChange = "READ_IMPORTED_CHANGING"
