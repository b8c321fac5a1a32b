package tokenizer

import (
	"encoding/json"
	"fmt"
)

// configJSON is the part of tokenizer_config.json this package reads.
type configJSON struct {
	BosToken       json.RawMessage `json:"bos_token"`
	EosToken       json.RawMessage `json:"eos_token"`
	UnkToken       json.RawMessage `json:"unk_token"`
	PadToken       json.RawMessage `json:"pad_token"`
	SepToken       json.RawMessage `json:"sep_token"`
	ClsToken       json.RawMessage `json:"cls_token"`
	MaskToken      json.RawMessage `json:"mask_token"`
	ChatTemplate   json.RawMessage `json:"chat_template"`
	AddBosToken    *bool           `json:"add_bos_token"`
	AddEosToken    *bool           `json:"add_eos_token"`
	TokenizerClass string          `json:"tokenizer_class"`
}

// applyConfig reads tokenizer_config.json: the BOS and EOS tokens, the chat template, and, for
// the Llama tokenizer classes, add_bos_token/add_eos_token, which transformers turns into the
// post-processor (LlamaTokenizerFast.update_post_processor) whatever tokenizer.json says.
func (t *Tokenizer) applyConfig(config []byte, chatTemplate string) error {
	before, after := specialsAround(t.post)
	if len(before) > 0 {
		t.bos = before[0]
	}
	if len(after) > 0 {
		t.eos = after[len(after)-1]
	}
	t.chatTemplate = chatTemplate
	if config == nil {
		return nil
	}
	var c configJSON
	if err := json.Unmarshal(config, &c); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		js   json.RawMessage
		id   *int32
	}{
		{"bos_token", c.BosToken, &t.bos},
		{"eos_token", c.EosToken, &t.eos},
		{"unk_token", c.UnkToken, nil},
		{"pad_token", c.PadToken, nil},
		{"sep_token", c.SepToken, nil},
		{"cls_token", c.ClsToken, nil},
		{"mask_token", c.MaskToken, nil},
	} {
		if f.js == nil {
			continue // absent: keep what the post-processor says
		}
		content, err := tokenContent(f.js)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if content == "" {
			if f.id != nil {
				*f.id = -1
			}
			continue
		}
		t.specials[f.name] = content
		if f.id != nil {
			id, ok := t.TokenID(content)
			if !ok {
				return fmt.Errorf("%s %q is not in the vocabulary", f.name, content)
			}
			*f.id = id
		}
	}
	if chatTemplate == "" && c.ChatTemplate != nil {
		var err error
		if t.chatTemplate, err = defaultChatTemplate(c.ChatTemplate); err != nil {
			return fmt.Errorf("chat_template: %w", err)
		}
	}
	switch c.TokenizerClass {
	case "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast":
		addBOS := c.AddBosToken == nil || *c.AddBosToken
		addEOS := c.AddEosToken != nil && *c.AddEosToken
		p := &templatePost{}
		if addBOS {
			if t.bos < 0 {
				return fmt.Errorf("add_bos_token is true but there is no bos_token")
			}
			p.before = []int32{t.bos}
		}
		if addEOS {
			if t.eos < 0 {
				return fmt.Errorf("add_eos_token is true but there is no eos_token")
			}
			p.after = []int32{t.eos}
		}
		t.post = p
	}
	return nil
}

// tokenContent reads a special token written as a string, as {"content": ...} or as null ("").
func tokenContent(js json.RawMessage) (string, error) {
	if isNull(js) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(js, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(js, &obj); err != nil {
		return "", fmt.Errorf("neither a string nor {\"content\": ...}")
	}
	return obj.Content, nil
}

// defaultChatTemplate reads chat_template: a string, or a list of {name, template} of which the
// one named "default" is the chat template.
func defaultChatTemplate(js json.RawMessage) (string, error) {
	if isNull(js) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(js, &s); err == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(js, &named); err != nil {
		return "", fmt.Errorf("neither a string nor a list of {name, template}")
	}
	for _, n := range named {
		if n.Name == "default" {
			return n.Template, nil
		}
	}
	return "", fmt.Errorf("no template named \"default\" among %d", len(named))
}
