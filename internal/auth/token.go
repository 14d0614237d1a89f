package auth

import (
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/fedwave/fedwave/internal/fail"
)

// Token lifetimes.
const (
	UserTokenTTL  = 24 * time.Hour
	GuestTokenTTL = 2 * time.Hour
)

// tokenIssuer and tokenAudience do not depend on the listening address, so
// tokens survive a restart on another port or behind a new proxy.
const (
	tokenIssuer   = "fedwave"
	tokenAudience = "fedwave-api"
)

// allowedAlgs is the explicit list of accepted algorithms: EdDSA only, so
// "none" and algorithm-confusion tokens are refused before any key is used.
var allowedAlgs = []jose.SignatureAlgorithm{jose.EdDSA}

// Issued is a signed token and when it expires.
type Issued struct {
	Token   string
	Expires time.Time
	Session string // the token's sid
}

// Claims are the verified claims of a token.
type Claims struct {
	UserID int64
	ID     string // jti
	// Session (the sid claim) is shared by every token derived from one
	// login, so that logging out revokes them all. Tokens issued before
	// sids existed are their own session (their jti).
	Session string
	Expires time.Time
}

// sessionClaim is FedWave's private claim.
type sessionClaim struct {
	SID string `json:"sid,omitempty"`
}

var errBadToken = fail.New(fail.Unauthorized, "invalid_token", "the token is invalid or has expired; log in again")

// Issue signs a token for user id, issued at now and valid for ttl, that
// starts a session of its own.
func (kr *KeyRing) Issue(userID int64, now time.Time, ttl time.Duration) (Issued, error) {
	return kr.sign(userID, "", now, now.Add(ttl))
}

// sign signs a token of session sid ("" starts a new one, named after the
// token's jti) that expires at exp.
func (kr *KeyRing) sign(userID int64, sid string, now, exp time.Time) (Issued, error) {
	kid, key := kr.signing()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return Issued{}, err
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	id := base64.RawURLEncoding.EncodeToString(jti)
	if sid == "" {
		sid = id
	}
	exp = exp.Truncate(time.Second)
	claims := jwt.Claims{
		Issuer:   tokenIssuer,
		Audience: jwt.Audience{tokenAudience},
		Subject:  strconv.FormatInt(userID, 10),
		Expiry:   jwt.NewNumericDate(exp),
		IssuedAt: jwt.NewNumericDate(now),
		ID:       id,
	}
	raw, err := jwt.Signed(signer).Claims(claims).Claims(sessionClaim{SID: sid}).Serialize()
	if err != nil {
		return Issued{}, err
	}
	return Issued{Token: raw, Expires: exp, Session: sid}, nil
}

// Verify checks the signature, algorithm, issuer, audience and times of raw.
// It does not check revocation.
func (kr *KeyRing) Verify(raw string, now time.Time) (Claims, error) {
	if len(raw) > 4096 {
		return Claims{}, errBadToken
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return Claims{}, errBadToken
	}
	pub, ok := kr.public(tok.Headers[0].KeyID)
	if !ok {
		return Claims{}, errBadToken
	}
	var c jwt.Claims
	var sc sessionClaim
	if err := tok.Claims(pub, &c, &sc); err != nil {
		return Claims{}, errBadToken
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: tokenIssuer, AnyAudience: jwt.Audience{tokenAudience}, Time: now}, 30*time.Second)
	if err != nil || c.Expiry == nil || c.ID == "" || c.IssuedAt == nil {
		return Claims{}, errBadToken
	}
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return Claims{}, errBadToken
	}
	if sc.SID == "" {
		sc.SID = c.ID
	}
	return Claims{UserID: id, ID: c.ID, Session: sc.SID, Expires: c.Expiry.Time()}, nil
}
