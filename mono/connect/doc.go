// Package connect serves the local web page that hosts Mono's Connect widget
// for one reauth session, and carries the widget's events back to Go.
//
// A Server (NewServer, Start, Close) listens on loopback by default. Each
// reauth attempt is a Session (Server.NewSession) with an unguessable id and
// secret; its URL is <base>/s/<id>#<secret>. The secret sits in the URL
// fragment, so it never reaches a server log or a Referer header, and the
// page removes it from the address bar before it loads the Connect script
// (connect.js sends window.location.href to Mono as `referrer`).
//
// The page fetches its configuration (the only response carrying the token)
// with the secret, loads the Connect script, builds `new Connect({...})`,
// calls reauthorise() and open(), and posts every callback to
// POST /s/<id>/events. The server validates, cleans, dedupes and orders the
// posts and hands them to Session.Events. In sandbox mode the server also
// serves a stand-in connect.js and a simulated widget that post Mono's real
// raw message types.
//
// See README.md in this directory for the page contract: endpoints,
// message shapes, security checks and the delivery guarantees.
//
// Consuming a session: range over Events() until it is closed, or select
// on Events() and Done(); Done() is closed only after Events() has been
// closed with whatever was pending already in its buffer, so a non-blocking
// drain after Done() loses nothing. The channel is buffered and fed by a per-session goroutine, so a
// slow reader never blocks the HTTP handlers; when the reader falls behind,
// heartbeats and repeats of non-outcome events are dropped and counted in
// Dropped(). What mono.WidgetEvent.MustDeliver names (the outcomes: success,
// close, unload, page_error, and the ERROR, EXIT and SUCCESS events; and the
// server's page_open) is never dropped while the session is open. Events
// made by the server itself have Seq 0: PageGone, and PAGE_OPENED /
// PAGE_REOPENED each time a page fetches its config.
//
// A session outlives its page: the newest page wins (a reload, the link
// opened again, another device), and a superseded page is told so (409). A
// session ends only by its owner (Close, CloseWithReason), a newer session
// for the same account, the server closing, or its token's expiry; its page
// is then told the cause (410, see EndReason).
//
// Replicas: page servers that share one PublicURL behind a load balancer
// each set Config.ReplicaID, which begins their session ids
// ("<replica>-<random>", OwnerOf), and Config.Forward, which says where
// another replica is reached on the internal network. A request for a page
// another replica owns is forwarded there (Host and Origin as sent, so the
// owner's checks run as for a direct request; ForwardedHeader stops a second
// hop); a page whose replica is gone is answered as ended (server_closed).
// A live session can move to another replica with its page (Server.Export
// gives a Handoff, Server.Adopt on the other replica carries it on; the old
// Session ends as EndMoved and its replica forwards the page's requests to
// the new one). Config.Internal mounts the runtime's own endpoints between
// replicas under /_internal/.
package connect
