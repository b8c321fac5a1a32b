package data

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/qlora-studio/qlora-studio/trainer/tokenizer"
)

// ChatTemplateFor picks the template the chat shapes render with: choice names a built-in
// (tokenizer.BuiltinChatTemplates) or a .jinja file; "" takes the tokenizer's own. It also says
// which one it took, for reports. With no choice and no template of the tokenizer's, it returns a
// nil template and no error: the other shapes need none, and Load says how to choose one when a
// chat file needs it.
func ChatTemplateFor(tok *tokenizer.Tokenizer, choice string) (ChatTemplate, string, error) {
	switch {
	case choice == "":
		tpl, err := tok.ChatTemplate()
		if errors.Is(err, tokenizer.ErrNoChatTemplate) {
			return nil, "none", nil
		}
		if err != nil {
			return nil, "", err
		}
		return tpl, "the model's chat_template", nil
	case strings.HasSuffix(choice, ".jinja") || strings.ContainsRune(choice, os.PathSeparator):
		src, err := os.ReadFile(choice)
		if err != nil {
			return nil, "", fmt.Errorf("chat template: %w", err)
		}
		tpl, err := tok.NewChatTemplate(choice, string(src))
		if err != nil {
			return nil, "", err
		}
		return tpl, choice, nil
	}
	tpl, err := tok.BuiltinChatTemplate(choice)
	if err != nil {
		return nil, "", err
	}
	return tpl, "built-in " + choice, nil
}

// errNoTemplate is Load's error for a chat file without a chat template.
func errNoTemplate(file string, shape Shape) error {
	return fmt.Errorf("%s: the %s format is rendered with a chat template, and the model has none: choose a built-in one (%s) or a .jinja file",
		file, shape, strings.Join(tokenizer.BuiltinChatTemplates(), ", "))
}
