package sshserve

import (
	"context"
	"time"

	"github.com/reauth/reauth/state/audit"
	"github.com/reauth/reauth/tui"
)

// An agent who leaves an account while it is checked after a success
// leaves the check running in their program (tui/background.go). When the
// program ends (a quit, a dropped connection, an idle timeout), the check
// is not cut short: the server carries it to its answer on a goroutine of
// its own (at most tui.Deps.VerifyFor), which a drain waits for and a
// shutdown stops (recorded unconfirmed).

// finishChecks carries checks (a program's final model's checks left
// running, tui.Model.SplitChecks) to their answers in the background.
func (s *Server) finishChecks(checks tui.Model, agent audit.Agent) {
	names := checks.Checking()
	if len(names) == 0 {
		return
	}
	s.finishing.Add(1)
	go func() {
		defer s.finishing.Done()
		for _, r := range checks.FinishChecks(s.finishCtx, "The server shut down while the check ran.") {
			s.logger.Info("check after a success ended after its program", append(agentAttrs(agent), "phase", r.Phase.String())...)
		}
		if n := checks.WriteUnwritten(true); n > 0 {
			s.logger.Error("audit records lost: the store did not take them before the check ended",
				append(agentAttrs(agent), "records", n)...)
		}
	}()
}

// waitFinishing waits for the checks being finished, until timeout fires
// or ctx ends; it reports whether they all ended.
func (s *Server) waitFinishing(ctx context.Context, timeout <-chan time.Time) bool {
	done := make(chan struct{})
	go func() {
		s.finishing.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-timeout:
	case <-ctx.Done():
	}
	return false
}
