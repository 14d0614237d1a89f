package auth

import "github.com/fedwave/fedwave/internal/store"

// UserView is a user as clients see it (CONTRACT §2), in the API and in the
// chat's welcome frame alike.
type UserView struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Num    int    `json:"num"`
	Handle string `json:"handle"`
	Color  string `json:"color"`
	Avatar string `json:"avatar"`
	Role   string `json:"role"`
}

// View makes the client view of u.
func View(u *store.User) UserView {
	return UserView{ID: u.ID, Name: u.Name, Num: u.Num, Handle: Handle(u.Name, u.Num), Color: u.Color, Avatar: u.Avatar, Role: u.Role}
}
