package chat

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fedwave/fedwave/internal/auth"
	"github.com/fedwave/fedwave/internal/channels"
	"github.com/fedwave/fedwave/internal/fail"
	"github.com/fedwave/fedwave/internal/store"
)

// Limits of moderation commands.
const (
	maxTimeout = 14 * 24 * time.Hour
	maxSlow    = time.Hour
)

// isCommand: chat commands start with ! (or / as an alias).
func isCommand(text string) bool {
	t := strings.TrimSpace(text)
	return len(t) > 1 && (t[0] == '!' || t[0] == '/') && t[1] != ' ' && t[1] != '/' && t[1] != '!'
}

type command struct {
	usage string
	help  string
	// minRank: who may use it (see auth.ChatRank); 0: anyone signed in.
	minRank func(rank int) bool
	run     func(c *cmdCtx) error
}

// cmdCtx is one command being run.
type cmdCtx struct {
	h    *Hub
	ctx  context.Context
	s    *Session
	u    *store.User
	ch   *store.Channel
	rank int
	args []string // after the command name
	rest string   // the text after the command name, as typed
}

func anyone(int) bool { return true }

// commands maps names to commands; built per call so it holds no state.
func commands() map[string]*command {
	return map[string]*command{
		"help":       {"!help", "list the commands you can use", anyone, cmdHelp},
		"w":          {"!w name#1234 text", "whisper to someone", anyone, cmdWhisper},
		"status":     {"!status", "show the channel's state", anyone, cmdStatus},
		"ban":        {"!ban name#1234 [reason]", "ban someone (instance-wide if you are an instance moderator)", auth.CanModerate, cmdBan},
		"unban":      {"!unban name#1234", "lift a ban or timeout", auth.CanModerate, cmdUnban},
		"timeout":    {"!timeout name#1234 SECONDS", "keep someone from chatting for a while", auth.CanModerate, cmdTimeout},
		"slow":       {"!slow SECONDS", "slow mode: one message per user every SECONDS (0 turns it off)", auth.CanModerate, cmdSlow},
		"wipe":       {"!wipe", "clear the channel's chat history (channel owner and above)", auth.CanWipe, cmdWipe},
		"mod":        {"!mod name#1234", "make someone a moderator of this channel", auth.CanAppointChannelMods, cmdMod},
		"unmod":      {"!unmod name#1234", "remove a channel moderator", auth.CanAppointChannelMods, cmdMod},
		"title":      {"!title TEXT", "change the stream title", auth.CanAppointChannelMods, cmdTitle},
		"mkstreamer": {"!mkstreamer name#1234", "approve someone as a streamer (admins)", auth.CanGrantStreamer, cmdMkStreamer},
	}
}

// command runs a chat command typed in a channel. Its answer goes to the
// sender only, as system frames; public effects are announced to the room.
func (h *Hub) command(ctx context.Context, s *Session, u *store.User, channel, text string) error {
	text = strings.TrimSpace(text)
	name, rest, _ := strings.Cut(text[1:], " ")
	name = strings.ToLower(name)
	cmd := commands()[name]
	if cmd == nil {
		return fail.New(fail.Invalid, "unknown_command", "unknown command %s; type !help for the list", truncate(text[:1]+name, 32))
	}
	ch, rank, err := h.allowed(ctx, u, channel, cmd.minRank)
	if err != nil {
		return err
	}
	if err := h.checkFlood(ctx, u, nil); err != nil {
		return err
	}
	c := &cmdCtx{h: h, ctx: ctx, s: s, u: u, ch: ch, rank: rank, args: strings.Fields(rest), rest: strings.TrimSpace(rest)}
	if name == "unmod" {
		c.args = append([]string{"-"}, c.args...) // tells cmdMod to remove
	}
	return cmd.run(c)
}

// audit records the action before anyone is told about it.
func (c *cmdCtx) audit(action string, target int64, channel, detail string) error {
	return c.h.store.Audit(c.ctx, store.AuditEntry{ActorID: c.u.ID, Action: action, TargetID: target, Channel: channel, Detail: detail})
}

func (c *cmdCtx) reply(format string, args ...any) {
	c.s.system(c.ch.Name, fmt.Sprintf(format, args...))
}

func usage(cmd string) error {
	return fail.New(fail.Invalid, "usage", "usage: %s", commands()[cmd].usage)
}

func cmdHelp(c *cmdCtx) error {
	var lines []string
	for _, name := range []string{"help", "w", "status", "ban", "unban", "timeout", "slow", "wipe", "mod", "unmod", "title", "mkstreamer"} {
		cmd := commands()[name]
		if cmd.minRank(c.rank) {
			lines = append(lines, cmd.usage+": "+cmd.help)
		}
	}
	c.reply("Commands (/ works as well as !):\n%s", strings.Join(lines, "\n"))
	return nil
}

func cmdWhisper(c *cmdCtx) error {
	to, text, ok := strings.Cut(c.rest, " ")
	if !ok || strings.TrimSpace(text) == "" {
		return usage("w")
	}
	return c.h.whisper(c.ctx, c.u, to, text)
}

func cmdStatus(c *cmdCtx) error {
	v, err := c.h.channels.Get(c.ctx, c.ch.Name)
	if err != nil {
		return err
	}
	state := "offline"
	if v.Live {
		state = fmt.Sprintf("live since %s", v.StartedAt.Format(time.RFC3339))
	}
	slow := "off"
	if c.ch.SlowSeconds > 0 {
		slow = fmt.Sprintf("%d s", c.ch.SlowSeconds)
	}
	c.reply("%s: %s · %d watching · slow mode %s · title %q", c.ch.Name, state, c.h.audience.Count(c.ch.Name), slow, v.Title)
	return nil
}

// target resolves the first argument to a user the actor may sanction.
func (c *cmdCtx) target(cmd string) (*store.User, error) {
	if len(c.args) == 0 {
		return nil, usage(cmd)
	}
	t, err := c.h.findUser(c.ctx, c.args[0])
	if err != nil {
		return nil, err
	}
	trank, err := c.h.rank(c.ctx, t, c.ch)
	if err != nil {
		return nil, err
	}
	if !auth.CanSanction(c.rank, trank) {
		return nil, fail.New(fail.Forbidden, "forbidden", "you cannot do that to %s", address(t))
	}
	return t, nil
}

// scope is where the actor's bans apply: everywhere for instance
// moderators, else this channel.
func (c *cmdCtx) scope() string {
	if auth.BansInstanceWide(c.rank) {
		return ""
	}
	return c.ch.Name
}

func cmdBan(c *cmdCtx) error {
	t, err := c.target("ban")
	if err != nil {
		return err
	}
	reason := truncate(strings.TrimSpace(strings.TrimPrefix(c.rest, c.args[0])), 200)
	if err := c.h.sanction(c.ctx, c.u, t, c.scope(), "ban", reason, time.Time{}, true); err != nil {
		return err
	}
	where := "from this channel"
	if c.scope() == "" {
		where = "from this instance"
	}
	c.h.publishSystem(c.ch.Name, fmt.Sprintf("%s was banned %s", address(t), where))
	return nil
}

func cmdTimeout(c *cmdCtx) error {
	if len(c.args) != 2 {
		return usage("timeout")
	}
	secs, err := strconv.Atoi(c.args[1])
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxTimeout {
		return fail.New(fail.Invalid, "usage", "a timeout lasts 1 to %d seconds", int(maxTimeout.Seconds()))
	}
	t, err := c.target("timeout")
	if err != nil {
		return err
	}
	if err := c.h.sanction(c.ctx, c.u, t, c.scope(), "timeout", "", c.h.now().Add(time.Duration(secs)*time.Second), true); err != nil {
		return err
	}
	c.h.publishSystem(c.ch.Name, fmt.Sprintf("%s was timed out for %d seconds", address(t), secs))
	return nil
}

// sanction bans or times out a user (actor nil: the system) in a scope,
// with purge removes their messages there, and records it in the audit log.
func (h *Hub) sanction(ctx context.Context, actor, target *store.User, scope, kind, reason string, until time.Time, purge bool) error {
	var by int64
	if actor != nil {
		by = actor.ID
	}
	now := h.now()
	if err := h.store.SetBan(ctx, store.Ban{Scope: scope, UserID: target.ID, Kind: kind, Reason: reason, ByID: by, CreatedAt: now, Expires: until}); err != nil {
		return err
	}
	h.banCache.Clear() // an instance ban (scope "") answers for every channel
	if purge {
		if err := h.purge(ctx, scope, target.ID); err != nil {
			return err
		}
	}
	detail := reason
	if !until.IsZero() {
		detail = fmt.Sprintf("until %s %s", until.UTC().Format(time.RFC3339), reason)
	}
	return h.store.Audit(ctx, store.AuditEntry{ActorID: by, Action: kind, TargetID: target.ID, Channel: scope, Detail: strings.TrimSpace(detail)})
}

// purge removes a user's messages in a scope and tells the rooms.
func (h *Hub) purge(ctx context.Context, scope string, userID int64) error {
	removed, err := h.store.DeleteUserMessages(ctx, scope, userID)
	if err != nil {
		return err
	}
	byChannel := map[string][]string{}
	for _, m := range removed {
		byChannel[m.Channel] = append(byChannel[m.Channel], strconv.FormatInt(m.ID, 10))
	}
	for ch, ids := range byChannel {
		h.publishDeletes(ch, ids)
	}
	return nil
}

func cmdUnban(c *cmdCtx) error {
	t, err := c.target("unban")
	if err != nil {
		return err
	}
	ok, err := c.h.store.RemoveBan(c.ctx, c.scope(), t.ID)
	if err != nil {
		return err
	}
	c.h.banCache.Clear()
	if !ok {
		c.reply("%s was not banned or timed out here", address(t))
		return nil
	}
	if err := c.audit("unban", t.ID, c.scope(), ""); err != nil {
		return err
	}
	c.reply("%s may chat again", address(t))
	return nil
}

func cmdSlow(c *cmdCtx) error {
	if len(c.args) != 1 {
		return usage("slow")
	}
	secs, err := strconv.Atoi(c.args[0])
	if err != nil || secs < 0 || time.Duration(secs)*time.Second > maxSlow {
		return fail.New(fail.Invalid, "usage", "slow mode takes 0 (off) to %d seconds", int(maxSlow.Seconds()))
	}
	if err := c.h.store.SetSlowMode(c.ctx, c.ch.Name, secs); err != nil {
		return err
	}
	c.h.channelChanged(c.ch.Name)
	if err := c.audit("slow", 0, c.ch.Name, strconv.Itoa(secs)); err != nil {
		return err
	}
	text := "slow mode is off"
	if secs > 0 {
		text = fmt.Sprintf("slow mode is on: one message every %d seconds", secs)
	}
	c.h.publishSystem(c.ch.Name, text)
	return nil
}

func cmdWipe(c *cmdCtx) error {
	recent, err := c.h.store.RecentMessages(c.ctx, c.ch.Name, 500)
	if err != nil {
		return err
	}
	if err := c.h.store.WipeChannel(c.ctx, c.ch.Name); err != nil {
		return err
	}
	if err := c.audit("wipe", 0, c.ch.Name, ""); err != nil {
		return err
	}
	ids := make([]string, len(recent))
	for i := range recent {
		ids[i] = strconv.FormatInt(recent[i].ID, 10)
	}
	c.h.publishDeletes(c.ch.Name, ids)
	c.h.publishSystem(c.ch.Name, "the chat was cleared by "+auth.Handle(c.u.Name, c.u.Num))
	return nil
}

func cmdMod(c *cmdCtx) error {
	on := true
	if len(c.args) > 0 && c.args[0] == "-" {
		on, c.args = false, c.args[1:]
	}
	cmd := map[bool]string{true: "mod", false: "unmod"}[on]
	if len(c.args) != 1 {
		return usage(cmd)
	}
	t, err := c.h.findLocalUser(c.ctx, c.args[0])
	if err != nil {
		return err
	}
	if err := c.h.store.SetChannelMod(c.ctx, c.ch.Name, t.ID, on); err != nil {
		return err
	}
	if err := c.audit(cmd, t.ID, c.ch.Name, ""); err != nil {
		return err
	}
	if on {
		c.h.publishSystem(c.ch.Name, address(t)+" is now a moderator of this channel")
	} else {
		c.h.publishSystem(c.ch.Name, address(t)+" is no longer a moderator of this channel")
	}
	return nil
}

func cmdTitle(c *cmdCtx) error {
	if c.rest == "" {
		return usage("title")
	}
	v, err := c.h.channels.Update(c.ctx, c.u, c.ch.Name, channels.Patch{Title: &c.rest})
	c.h.channelChanged(c.ch.Name)
	if err != nil {
		return err
	}
	if err := c.audit("title", 0, c.ch.Name, v.Title); err != nil {
		return err
	}
	c.h.Announce(v)
	c.h.publishSystem(c.ch.Name, "title: "+v.Title)
	return nil
}

func cmdMkStreamer(c *cmdCtx) error {
	if len(c.args) != 1 {
		return usage("mkstreamer")
	}
	t, err := c.h.findLocalUser(c.ctx, c.args[0])
	if err != nil {
		return err
	}
	if auth.Role(t.Role).HasChannel() {
		c.reply("%s already has a channel (%s)", address(t), t.Role)
		return nil
	}
	if t.Role == string(auth.RoleGuest) {
		return fail.New(fail.Invalid, "guest", "guests cannot become streamers; they need an account")
	}
	if err := c.h.roles.SetRole(c.ctx, t.ID, auth.RoleStreamer); err != nil {
		return err
	}
	if err := c.audit("mkstreamer", t.ID, "", ""); err != nil {
		return err
	}
	c.reply("%s is now a streamer, with the channel /c/%s", address(t), t.Name)
	return nil
}
