package mono

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// AccountPage is one page of GET /v2/accounts.
type AccountPage struct {
	Accounts []Account
	Page     int // the page number requested (1-based)
	Pages    int // meta.pages, 0 if Mono did not say
	Total    int // meta.total, 0 if Mono did not say
}

const opListAccounts = "list accounts"

// maxPages bounds a listing even if meta.next keeps inventing new pages.
const maxPages = 200_000

// IsAccountID reports whether s looks like a Mono account id: a 24-hex
// ObjectId.
func IsAccountID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// checkID rejects anything that is not an ObjectId before a request is made.
// The message never echoes the input: an agent may paste a token by mistake.
func checkID(op, id string) error {
	if IsAccountID(id) {
		return nil
	}
	return &Error{Kind: KindInvalidInput, Op: op,
		Message: fmt.Sprintf("account id must be 24 hexadecimal characters (got %d characters)", len([]rune(id)))}
}

// Accounts lists every linked account, page by page, following meta.next
// until it is null. Each page is yielded as soon as it arrives, so a UI can
// show page 1 while the rest load. On an error (including ctx being
// cancelled, reported as KindCanceled) it yields that error once, with Page
// set to the page that failed, and stops; breaking out of the loop stops it
// without further requests.
//
// Only meta.next's query (the page number) is used; the request always goes
// to the configured host and path, so a reply cannot send the key elsewhere.
func (c *Client) Accounts(ctx context.Context) iter.Seq2[AccountPage, error] {
	const op = opListAccounts
	return func(yield func(AccountPage, error) bool) {
		query := url.Values{"page": {"1"}}
		seen := map[string]bool{}
		for n := 1; ; n++ {
			pageNo := pageNumber(query, n)
			key := query.Encode()
			if seen[key] {
				yield(AccountPage{Page: pageNo}, &Error{Kind: KindBadReply, Op: op,
					Message: fmt.Sprintf("meta.next points back to page %d", pageNo)})
				return
			}
			if n > maxPages {
				yield(AccountPage{Page: pageNo}, &Error{Kind: KindBadReply, Op: op,
					Message: fmt.Sprintf("more than %d pages", maxPages)})
				return
			}
			seen[key] = true

			page, next, err := c.accountsPage(ctx, query, pageNo)
			if err != nil {
				yield(AccountPage{Page: pageNo}, err)
				return
			}
			if !yield(page, nil) {
				return
			}
			if next == nil {
				return
			}
			query = next
		}
	}
}

func pageNumber(q url.Values, fallback int) int {
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		return n
	}
	return fallback
}

func (c *Client) accountsPage(ctx context.Context, query url.Values, pageNo int) (AccountPage, url.Values, error) {
	const op = opListAccounts
	rep, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v2/accounts", query: query, read: true})
	if err != nil {
		return AccountPage{}, nil, err
	}
	var env envelope
	if err := json.Unmarshal(rep.body, &env); err != nil {
		return AccountPage{}, nil, badReply(op, rep.status, "list is not JSON", err)
	}
	if env.failed() {
		return AccountPage{}, nil, &Error{Kind: KindBadReply, Op: op, Status: rep.status, Message: c.clean(string(env.Message))}
	}
	var items []json.RawMessage
	if len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, &items); err != nil {
			return AccountPage{}, nil, badReply(op, rep.status, "data is not a list", err)
		}
	}
	var meta listMeta
	if len(env.Meta) > 0 {
		if err := json.Unmarshal(env.Meta, &meta); err != nil {
			return AccountPage{}, nil, badReply(op, rep.status, "meta is not an object", err)
		}
	}
	page := AccountPage{Page: pageNo, Pages: int(meta.Pages), Total: int(meta.Total), Accounts: make([]Account, 0, len(items))}
	skipped := 0
	for _, raw := range items {
		var w wireAccount
		if json.Unmarshal(raw, &w) != nil {
			skipped++
			continue
		}
		a := c.toAccount(w, nil, nil)
		if !IsAccountID(a.ID) {
			// Without a valid id nothing can be done with the account.
			skipped++
			continue
		}
		page.Accounts = append(page.Accounts, a)
	}
	if skipped > 0 {
		c.logWarn("skipped unreadable accounts", "page", pageNo, "skipped", skipped)
	}
	next, err := nextQuery(string(meta.Next))
	if err != nil {
		return AccountPage{}, nil, badReply(op, rep.status, err.Error(), nil)
	}
	return page, next, nil
}

// nextQuery extracts the query to request next from meta.next: an absolute
// or relative URL (only its query is used) or a bare page number. nil means
// there is no next page.
func nextQuery(next string) (url.Values, error) {
	next = strings.TrimSpace(next)
	if next == "" || strings.EqualFold(next, "null") {
		return nil, nil
	}
	if n, err := strconv.Atoi(next); err == nil {
		if n < 1 {
			return nil, fmt.Errorf("meta.next is page %d", n)
		}
		return url.Values{"page": {strconv.Itoa(n)}}, nil
	}
	u, err := url.Parse(next)
	if err != nil {
		return nil, fmt.Errorf("meta.next is not a URL")
	}
	q := u.Query()
	if len(q) == 0 {
		return nil, fmt.Errorf("meta.next has no page number")
	}
	if p := q.Get("page"); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 {
			return nil, fmt.Errorf("meta.next has a bad page number")
		}
	}
	return q, nil
}

func badReply(op string, status int, msg string, err error) *Error {
	return &Error{Kind: KindBadReply, Op: op, Status: status, Message: msg, Err: err}
}

// Account reads one account (GET /v2/accounts/{id}) and merges data.account,
// data.customer and data.meta into an Account. Reads are retried per the
// RetryPolicy.
func (c *Client) Account(ctx context.Context, id string) (Account, error) {
	const op = "get account"
	if err := checkID(op, id); err != nil {
		return Account{}, err
	}
	rep, err := c.do(ctx, request{op: op, method: http.MethodGet, path: "/v2/accounts/" + url.PathEscape(id), read: true})
	if err != nil {
		return Account{}, err
	}
	var env envelope
	if err := json.Unmarshal(rep.body, &env); err != nil {
		return Account{}, badReply(op, rep.status, "account is not JSON", err)
	}
	if env.failed() {
		return Account{}, &Error{Kind: KindBadReply, Op: op, Status: rep.status, Message: c.clean(string(env.Message))}
	}
	var detail struct {
		Account  *wireAccount  `json:"account"`
		Customer *wireCustomer `json:"customer"`
		Meta     *wireMeta     `json:"meta"`
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return Account{}, badReply(op, rep.status, "reply has no data", nil)
	}
	if err := json.Unmarshal(env.Data, &detail); err != nil {
		return Account{}, badReply(op, rep.status, "data is not an object", err)
	}
	if detail.Account == nil {
		// Some replies may put the account directly in data.
		var flat wireAccount
		if err := json.Unmarshal(env.Data, &flat); err != nil {
			return Account{}, badReply(op, rep.status, "data has no account", err)
		}
		detail.Account = &flat
	}
	cust := detail.Customer
	if cust != nil && cust.ID == "" && cust.OID == "" && cust.Name == "" && cust.Email == "" {
		cust = nil
	}
	if cust == nil {
		cust = &detail.Account.Customer
	}
	meta := detail.Meta
	if meta == nil {
		meta = detail.Account.Meta
	}
	a := c.toAccount(*detail.Account, cust, meta)
	if a.ID == "" {
		a.ID = id
	}
	if !strings.EqualFold(a.ID, id) {
		// Acting on the wrong account (minting its token) would be worse
		// than failing.
		return Account{}, badReply(op, rep.status, "reply is for a different account", nil)
	}
	return a, nil
}
