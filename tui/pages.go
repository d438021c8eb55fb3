package tui

import (
	"context"

	"github.com/reauth/reauth/mono/connect"
)

// ConnectPages serves widget pages from a mono/connect server.
type ConnectPages struct{ Server *connect.Server }

// Open starts a page session for the request's account, token and
// contract.
func (p ConnectPages) Open(_ context.Context, req PageRequest) (Page, error) {
	return p.Server.NewSession(connect.SessionParams{Account: req.Account, Token: req.Token, Scenario: req.Scenario,
		Contract: connect.Contract(req.Contract)})
}

// ResolveContract says which contract the page's Connect script takes
// (ContractResolver), found from the script itself unless forced.
func (p ConnectPages) ResolveContract(ctx context.Context) (string, error) {
	c, err := p.Server.ResolveContract(ctx)
	return string(c), err
}
