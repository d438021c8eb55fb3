package sandbox

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/reauth/reauth/mono"
)

// bank is one institution the generator links accounts at.
type bank struct {
	inst       mono.Institution
	mobileOnly bool // app-only banks: customers link with mobile_banking
	weight     int  // relative share of customers
	// balanceOnly banks give Mono only the balance (retrieved_data
	// ["balance"], data_status PARTIAL or FAILED), whatever the customer
	// does: a partner-bank limitation, not a reauth need.
	balanceOnly bool
}

// banks are real Nigerian institutions with their CBN/NIBSS bank codes.
// Institution ids are fixed so they are stable across runs.
var banks = []bank{
	{mono.Institution{ID: "5f2d08be60b92e2888287702", Name: "GTBank", BankCode: "058", Type: "PERSONAL_BANKING"}, false, 14, false},
	{mono.Institution{ID: "5f2d08bf60b92e2888287703", Name: "Access Bank", BankCode: "044", Type: "PERSONAL_BANKING"}, false, 13, false},
	{mono.Institution{ID: "5f2d08c060b92e2888287704", Name: "Zenith Bank", BankCode: "057", Type: "PERSONAL_BANKING"}, false, 12, false},
	{mono.Institution{ID: "5f2d08c160b92e2888287705", Name: "First Bank of Nigeria", BankCode: "011", Type: "PERSONAL_BANKING"}, false, 11, false},
	{mono.Institution{ID: "5f2d08c260b92e2888287706", Name: "United Bank for Africa", BankCode: "033", Type: "PERSONAL_BANKING"}, false, 10, false},
	{mono.Institution{ID: "5f2d08c360b92e2888287707", Name: "Fidelity Bank", BankCode: "070", Type: "PERSONAL_BANKING"}, false, 5, false},
	{mono.Institution{ID: "5f2d08c460b92e2888287708", Name: "Stanbic IBTC Bank", BankCode: "221", Type: "PERSONAL_BANKING"}, false, 5, false},
	{mono.Institution{ID: "5f2d08c560b92e2888287709", Name: "Sterling Bank", BankCode: "232", Type: "PERSONAL_BANKING"}, false, 4, false},
	{mono.Institution{ID: "5f2d08c660b92e288828770a", Name: "Union Bank of Nigeria", BankCode: "032", Type: "PERSONAL_BANKING"}, false, 3, false},
	{mono.Institution{ID: "5f2d08c760b92e288828770b", Name: "Wema Bank", BankCode: "035", Type: "PERSONAL_BANKING"}, false, 3, false},
	{mono.Institution{ID: "5f2d08c860b92e288828770c", Name: "First City Monument Bank", BankCode: "214", Type: "PERSONAL_BANKING"}, false, 3, false},
	{mono.Institution{ID: "5f2d08c960b92e288828770d", Name: "Ecobank Nigeria", BankCode: "050", Type: "PERSONAL_BANKING"}, false, 3, false},
	{mono.Institution{ID: "5f2d08ca60b92e288828770e", Name: "Polaris Bank", BankCode: "076", Type: "PERSONAL_BANKING"}, false, 2, false},
	{mono.Institution{ID: "5f2d08cb60b92e288828770f", Name: "Kuda Bank", BankCode: "50211", Type: "PERSONAL_BANKING"}, true, 6, false},
	{mono.Institution{ID: "5f2d08cc60b92e2888287710", Name: "OPay", BankCode: "999992", Type: "PERSONAL_BANKING"}, true, 6, true},
	{mono.Institution{ID: "5f2d08cd60b92e2888287711", Name: "Moniepoint MFB", BankCode: "50515", Type: "PERSONAL_BANKING"}, true, 5, false},
}

// Institutions lists the sandbox's banks, each once (no two share an id,
// name or bank code), in a fixed order: what a sandbox widget's bank list
// should offer, so it names each bank as the sandbox's accounts do.
func Institutions() []mono.Institution {
	out := make([]mono.Institution, len(banks))
	for i, b := range banks {
		out[i] = b.inst
	}
	return out
}

// balanceOnlyBank reports whether the institution gives Mono only the balance.
func balanceOnlyBank(inst mono.Institution) bool {
	for _, b := range banks {
		if b.inst.ID == inst.ID {
			return b.balanceOnly
		}
	}
	return false
}

// bankByCode finds a bank for the scenario table.
func bankByCode(code string) mono.Institution {
	for _, b := range banks {
		if b.inst.BankCode == code {
			return b.inst
		}
	}
	panic("sandbox: no bank with code " + code)
}

// Name parts. Scenario holders' names (scenarios.go) use parts that appear
// nowhere here, so typing part of one finds that account alone.
var firstNames = []string{
	"Adebayo", "Adaobi", "Adamu", "Aisha", "Amaka", "Aminu", "Ayodele", "Ayomide", "Babatunde", "Binta",
	"Bisola", "Blessing", "Bukola", "Chiamaka", "Chidinma", "Chinedu", "Chioma", "Damilola", "Daniel", "Ebere",
	"Ebuka", "Efe", "Efosa", "Ekaette", "Emeka", "Esther", "Fatima", "Folasade", "Gbenga", "Godwin",
	"Grace", "Hadiza", "Hauwa", "Ifeanyi", "Ifeoma", "Ikenna", "Ime", "Kehinde", "Kelechi", "Kunle",
	"Mariam", "Musa", "Nkechi", "Nnamdi", "Nneka", "Obinna", "Oghenekaro", "Olamide", "Oluwaseun", "Onyinye",
	"Osaze", "Precious", "Sade", "Samuel", "Sani", "Segun", "Taiwo", "Temitope", "Titilayo", "Tobiloba",
	"Uchenna", "Uduak", "Usman", "Victor", "Yakubu", "Yetunde", "Zainab", "Abdullahi", "Eseoghene", "Tamuno",
}

var lastNames = []string{
	"Abubakar", "Adeleke", "Adewale", "Adeyemi", "Afolabi", "Agbaje", "Ajayi", "Akinola", "Anyanwu", "Balogun",
	"Bassey", "Bello", "Chukwu", "Danjuma", "Edet", "Ekpo", "Ekwueme", "Etim", "Eze", "Ezeani",
	"Garba", "Ibekwe", "Igwe", "Ilori", "Ladipo", "Lawal", "Mohammed", "Nwachukwu", "Nwosu", "Obi",
	"Ogundipe", "Ogunleye", "Ojo", "Okafor", "Okeke", "Okon", "Okoro", "Oladipo", "Olawale", "Onyekachi",
	"Ovie", "Oyelaran", "Salami", "Suleiman", "Uche", "Umeh", "Yusuf", "Ibrahim", "Okparaeke", "Effiong",
}

var emailDomains = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "ymail.com"}

// Lower-case forms, computed once so Generate does not allocate them per account.
var (
	firstLower = lowerAll(firstNames)
	lastLower  = lowerAll(lastNames)
)

func lowerAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = strings.ToLower(s)
	}
	return out
}

// troubleKind is the webhook Mono sent about an account whose sync went
// wrong. The sandbox's account reads never say so (Mono's do not): only these
// webhooks do.
type troubleKind uint8

const (
	troubleNone           troubleKind = iota
	troubleUpdatedReauth              // account_updated, meta.sync_status REAUTHORISATION_REQUIRED (2026 shape)
	troubleReauthRequired             // reauthorisation_required (2026 shape: event_id, timestamp, app, business)
	troubleLegacyReauth               // reauthorisation_required in the 2022 shape: no event_id, no timestamp
	troubleUpdatedFailed              // account_updated, meta.sync_status FAILED
	troubleJobFailed                  // mono.accounts.jobs.update with status failed
)

// needsReauth: Mono's webhook says reauthorisation is required (the others
// say only that a sync failed).
func (k troubleKind) needsReauth() bool {
	return k == troubleUpdatedReauth || k == troubleReauthRequired || k == troubleLegacyReauth
}

// generatedTroubles weights the webhooks of ordinary accounts that need
// attention: mostly account_updated REAUTHORISATION_REQUIRED, some in the
// legacy shape, some failed syncs and Real-Time Data jobs.
var generatedTroubles = [10]troubleKind{
	troubleUpdatedReauth, troubleUpdatedReauth, troubleUpdatedReauth, troubleUpdatedReauth, troubleUpdatedReauth,
	troubleReauthRequired, troubleLegacyReauth, troubleLegacyReauth, troubleUpdatedFailed, troubleJobFailed,
}

// trouble is one account's webhook: which, and how long before the
// generation epoch Mono sent it.
type trouble struct {
	kind troubleKind
	ago  time.Duration
}

var (
	retrievedFull    = []string{"identity", "balance", "transactions", "statement"}
	retrievedPartial = []string{"identity", "balance"}
	retrievedBalance = []string{"balance"}
)

// genEpoch anchors the generated webhook times; the Server moves them so they
// sit just before its clock's "now".
var genEpoch = time.Date(2026, time.January, 5, 9, 0, 0, 0, time.UTC)

var allStatuses = []mono.DataStatus{mono.StatusAvailable, mono.StatusPartial, mono.StatusProcessing, mono.StatusUnavailable, mono.StatusFailed}

// Generate makes n deterministic accounts from seed: the scenario accounts
// (Scenarios) first, then ordinary ones. The same seed and n always give the
// same accounts, and a smaller n gives a prefix of a larger one. Holder and
// customer are the same person. They read as Mono's account reads do: no
// sync_status, sync_message or last_synced_at. About 15% of ordinary accounts
// have had a sync go wrong (most need reauth); only the webhooks a Server
// sends about them say so.
//
// It is built for benchmarks of 10^5 to 10^6 accounts: the unique text of a
// batch of accounts (ids, numbers, emails) shares one allocation, and names,
// institutions and messages are shared strings.
func Generate(seed int64, n int) []mono.Account {
	return generate(seed, n, nil)
}

// generate is Generate, also recording each account's webhook in troubles
// (by account index) when troubles is not nil.
func generate(seed int64, n int, troubles map[int]trouble) []mono.Account {
	if n <= 0 {
		return nil
	}
	out := make([]mono.Account, n)
	i := 0
	for ; i < n && i < len(scenarioTable); i++ {
		out[i] = scenarioTable[i].account()
		if troubles != nil && scenarioTable[i].hook != troubleNone {
			troubles[i] = trouble{kind: scenarioTable[i].hook, ago: scenarioTable[i].hookAgo}
		}
	}
	g := newGenerator(seed)
	g.troubles = troubles
	if n > len(firstNames)*len(lastNames) {
		g.names = fullNames()
	}
	offsets := make([]textOffsets, 0, genBatch)
	for j := 0; i < n; {
		start := i
		g.buf = g.buf[:0]
		offsets = offsets[:0]
		for ; i < n && i-start < genBatch; i, j = i+1, j+1 {
			offsets = append(offsets, g.fill(&out[i], i, j))
		}
		text := string(g.buf)
		for k, off := range offsets {
			a := &out[start+k]
			a.ID = text[off.at : off.at+24]
			a.Customer.ID = text[off.at+24 : off.at+48]
			a.AccountNumber = text[off.at+48 : off.at+58]
			a.BVN = text[off.at+58 : off.at+62]
			a.Customer.Email = text[off.at+62 : off.end]
		}
	}
	return out
}

// genBatch is how many accounts share one text allocation: few enough that a
// retained account pins little memory, many enough that the garbage
// collector sees a handful of objects instead of millions.
const genBatch = 256

// textOffsets locates one account's text in the batch buffer.
type textOffsets struct{ at, end int }

// fullNames holds every "First Last" once, shared by all accounts of a large
// catalogue (the benchmarks' millions), so a name costs no memory of its own.
// Built on first use: the app's sandbox (a few hundred accounts) does not
// need it, and building it at start-up cost the app's first frame.
var fullNames = sync.OnceValue(func() []string {
	out := make([]string, 0, len(firstNames)*len(lastNames))
	for _, f := range firstNames {
		for _, l := range lastNames {
			out = append(out, f+" "+l)
		}
	}
	return out
})

type generator struct {
	troubles      map[int]trouble // nil: not recorded
	names         []string        // fullNames for large catalogues, else nil
	rng           *rand.Rand
	buf           []byte
	bankCum       []int
	bankWeightSum int
}

func newGenerator(seed int64) *generator {
	g := &generator{
		rng: rand.New(rand.NewPCG(uint64(seed), 0x6d6f6e6f2d736278)), // "mono-sbx"
		buf: make([]byte, 0, genBatch*96),
	}
	for _, b := range banks {
		g.bankWeightSum += b.weight
		g.bankCum = append(g.bankCum, g.bankWeightSum)
	}
	return g
}

func (g *generator) pickBank() int {
	r := g.rng.IntN(g.bankWeightSum)
	for k, c := range g.bankCum {
		if r < c {
			return k
		}
	}
	return len(g.bankCum) - 1
}

// fill writes ordinary account j (0-based, after the scenarios; index i in
// the whole list) into a, and appends its unique text (ids, number, BVN,
// email) to g.buf for Generate to slice once the batch's buffer has become a
// string.
func (g *generator) fill(a *mono.Account, i, j int) textOffsets {
	r := g.rng
	bi := g.pickBank()
	// The first few ordinary accounts cover every auth method and data
	// status, so even a tiny n exercises them all.
	switch j {
	case 0:
		bi = 0 // GTBank, internet banking
	case 1:
		bi = 13 // Kuda, mobile banking
	}
	b := &banks[bi]

	first, last := r.IntN(len(firstNames)), r.IntN(len(lastNames))

	buf := g.buf
	at := len(buf)
	buf = appendObjectID(buf, uint32(0x60000000+j*97), r.Uint64()&^(1<<39), uint32(j))
	buf = appendObjectID(buf, uint32(0x60000000+j*97), r.Uint64()|(1<<39), uint32(j))
	buf = appendNUBAN(buf, b.inst.BankCode, r.Uint64())
	buf = appendDigits(buf, uint64(r.IntN(10000)), 4)
	switch r.IntN(3) {
	case 0:
		buf = append(buf, firstLower[first]...)
		buf = append(buf, '.')
		buf = append(buf, lastLower[last]...)
	case 1:
		buf = append(buf, firstLower[first]...)
		buf = append(buf, lastLower[last]...)
		buf = appendDigits(buf, uint64(r.IntN(100)), 2)
	default:
		buf = append(buf, firstLower[first][0], '.')
		buf = append(buf, lastLower[last]...)
		buf = appendDigits(buf, uint64(j%1000), 3)
	}
	buf = append(buf, '@')
	buf = append(buf, emailDomains[r.IntN(len(emailDomains))]...)
	g.buf = buf

	if g.names != nil {
		a.Name = g.names[first*len(lastNames)+last]
	} else {
		a.Name = firstNames[first] + " " + lastNames[last]
	}
	a.Customer.Name = a.Name
	a.Currency = "NGN"
	a.Institution = b.inst
	a.Balance = balanceKobo(r.Float64())
	a.Type = "SAVINGS_ACCOUNT"
	if r.IntN(10) < 3 {
		a.Type = "CURRENT_ACCOUNT"
	}

	switch {
	case b.mobileOnly:
		a.AuthMethod = mono.AuthMobileBanking
	case j == 0 || r.IntN(100) < 55:
		a.AuthMethod = mono.AuthInternetBanking
	default:
		a.AuthMethod = mono.AuthMobileBanking
	}

	// The draws below keep the generator's stream (and so every seed's
	// accounts) as it was when reads still carried invented sync fields.
	if r.IntN(100) < 15 {
		a.DataStatus = pickStatus(r.IntN(100), 20, 15, 0, 25) // the rest FAILED
		kind := generatedTroubles[r.IntN(len(generatedTroubles))]
		ago := time.Duration(2*24*60+r.IntN(28*24*60)) * time.Minute
		if g.troubles != nil {
			g.troubles[i] = trouble{kind: kind, ago: ago}
		}
	} else {
		a.DataStatus = pickStatus(r.IntN(100), 72, 10, 6, 7) // the rest FAILED
		_ = r.IntN(48 * 60)
	}
	if j < len(allStatuses) {
		a.DataStatus = allStatuses[j]
	} else if b.balanceOnly {
		// The bank gives only the balance: never AVAILABLE.
		switch a.DataStatus {
		case mono.StatusAvailable:
			a.DataStatus = mono.StatusPartial
		case mono.StatusUnavailable:
			a.DataStatus = mono.StatusFailed
		}
	}
	a.RetrievedData = retrievedFor(a.DataStatus, b.balanceOnly)
	return textOffsets{at: at, end: len(buf)}
}

// retrievedFor is the retrieved_data an account with status reads.
func retrievedFor(status mono.DataStatus, balanceOnly bool) []string {
	switch {
	case balanceOnly && status != mono.StatusProcessing:
		return retrievedBalance[:1:1]
	case status == mono.StatusAvailable:
		return retrievedFull[:len(retrievedFull):len(retrievedFull)]
	case status == mono.StatusPartial:
		return retrievedPartial[:len(retrievedPartial):len(retrievedPartial)]
	}
	return nil
}

// pickStatus maps a percentile to a data status given the shares of
// AVAILABLE, PARTIAL, PROCESSING and UNAVAILABLE; FAILED takes the rest.
func pickStatus(p, avail, partial, processing, unavailable int) mono.DataStatus {
	switch {
	case p < avail:
		return mono.StatusAvailable
	case p < avail+partial:
		return mono.StatusPartial
	case p < avail+partial+processing:
		return mono.StatusProcessing
	case p < avail+partial+processing+unavailable:
		return mono.StatusUnavailable
	}
	return mono.StatusFailed
}

// balanceKobo spreads balances log-uniformly from ₦20 to ₦20m, in kobo.
func balanceKobo(u float64) int64 {
	const lo, hi = 20.0, 20_000_000.0
	naira := math.Exp(math.Log(lo) + u*(math.Log(hi)-math.Log(lo)))
	return int64(naira * 100)
}

const hexDigits = "0123456789abcdef"

// appendObjectID appends a 24-hex id shaped like a MongoDB ObjectId: a
// 4-byte time, 5 bytes of "machine" and a 3-byte counter.
func appendObjectID(buf []byte, ts uint32, machine uint64, counter uint32) []byte {
	var raw [12]byte
	raw[0], raw[1], raw[2], raw[3] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	raw[4], raw[5], raw[6], raw[7], raw[8] = byte(machine>>32), byte(machine>>24), byte(machine>>16), byte(machine>>8), byte(machine)
	raw[9], raw[10], raw[11] = byte(counter>>16), byte(counter>>8), byte(counter)
	for _, c := range raw {
		buf = append(buf, hexDigits[c>>4], hexDigits[c&15])
	}
	return buf
}

// appendNUBAN appends a 10-digit NUBAN-style number: a 9-digit serial and
// the CBN check digit computed over the bank code (its last three digits for
// the longer microfinance and fintech codes).
func appendNUBAN(buf []byte, bankCode string, r uint64) []byte {
	code := bankCode
	if len(code) > 3 {
		code = code[len(code)-3:]
	}
	var serial [9]byte
	for k := range serial {
		serial[k] = byte(r % 10)
		r /= 10
	}
	if serial[0] == 0 {
		serial[0] = 1 + byte(r%9) // real NUBANs rarely start with 0
	}
	weights := [12]int{3, 7, 3, 3, 7, 3, 3, 7, 3, 3, 7, 3}
	sum := 0
	for k := 0; k < 3; k++ {
		sum += int(code[k]-'0') * weights[k]
	}
	for k, d := range serial {
		sum += int(d) * weights[3+k]
	}
	check := (10 - sum%10) % 10
	for _, d := range serial {
		buf = append(buf, '0'+d)
	}
	return append(buf, '0'+byte(check))
}

// appendDigits appends v as exactly width decimal digits, zero-padded.
func appendDigits(buf []byte, v uint64, width int) []byte {
	var tmp [20]byte
	for k := width - 1; k >= 0; k-- {
		tmp[k] = '0' + byte(v%10)
		v /= 10
	}
	return append(buf, tmp[:width]...)
}
