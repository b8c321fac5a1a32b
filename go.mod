module github.com/qlora-studio/qlora-studio

go 1.26
