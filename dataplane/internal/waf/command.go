package waf

import "strings"

// detectCommand: shell commands and code execution. A command word alone is a sentence ("cat
// toys", "echo in the mirror"); what makes it a command is where it stands (after a shell
// separator: ; | & ` $( or a newline) and what follows it (an option, a system path). Words
// that are also English words need both; names that are nothing but commands (whoami,
// ifconfig) need only the separator.
func detectCommand(t *text) string {
	var tmp text
	ct := t.derive(shellCanon(t.s), &tmp)
	c := ct.s
	if m := shellCommand(c); m != "" {
		return m
	}
	if m := codeExec.find(ct); m != "" {
		return m
	}
	if m := quotedCode.find(t); m != "" {
		return m
	}
	if !ct.hasByte('(') && !ct.hasByte('@') {
		return ""
	}
	if m := codeCall(stripComments(c)); m != "" {
		return m
	}
	return ""
}

// shellCanon removes what a shell removes before it runs a word: quotes and backslashes
// (w'h'o'am'i, c\at), cmd.exe's caret escapes, and $IFS used as a space.
func shellCanon(v string) string {
	if !strings.ContainsAny(v, "'\"\\^$") {
		return v
	}
	v = ifsReplacer.Replace(v)
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\'', '"', '\\', '^':
		default:
			b = append(b, v[i])
		}
	}
	return string(b)
}

var ifsReplacer = strings.NewReplacer("${ifs}", " ${ifs} ", "$ifs$9", " $ifs ", "$ifs", " $ifs ")

// stripComments removes /* comments */, for code written with gaps (exec/*x*/()).
func stripComments(v string) string {
	i := strings.Index(v, "/*")
	if i < 0 {
		return v
	}
	b := make([]byte, 0, len(v))
	for i >= 0 {
		b = append(b, v[:i]...)
		end := strings.Index(v[i+2:], "*/")
		if end < 0 {
			return string(b)
		}
		v = v[i+2+end+2:]
		i = strings.Index(v, "/*")
	}
	return string(append(b, v...))
}

// Command names. unambiguous ones are not English words; the others need an argument that
// looks like a shell's (see shellArg).
var (
	unambiguous = words(`whoami uname ifconfig ipconfig netstat nslookup wget curl ncat netcat powershell pwsh
		certutil bitsadmin mshta rundll32 regsvr32 wmic getent systeminfo sysinfo tasklist taskkill regedit
		tftp nohup xargs chmod chown crontab useradd usermod lastlog bcdboot bsdtar zstdcat zcat gunzip unxz
		ansible ansible-config ansible-galaxy ansible-vault ansible-playbook cscli htop gdb cpulimit iwr iex iwmi
		invoke-webrequest invoke-expression invoke-command start-process printenv ls pwd id mkfifo socat busybox
		msiexec schtasks cscript wscript vssadmin icacls takeown dnscmd nltest whoami.exe cmd.exe powershell.exe
		setsid strace ltrace tcpdump traceroute tracert arp route.exe uname.exe`)
	ambiguous = words(`cat type echo set time sleep ping net reg env sh bash zsh ksh csh tcsh dash fish nc php
		python python2 python3 perl ruby lua node find grep awk sed head tail more less rm cp mv touch mkdir
		kill killall ps who w sudo su copy del start call alias trap eval exec source export host dig ssh scp ftp
		tar zip unzip flock passwd shutdown reboot telnet base64 gcc cc hostname dir cmd chdir cd rmdir ftype
		assoc attrib wget.exe nc.exe run`)
)

// english are the ambiguous commands that prose uses as words, also after a '|' ("Home |
// Find a store") or "&&".
var english = words(`cat type echo set time sleep ping net reg env find head tail more less touch kill who w
	copy del start call alias trap eval exec source export host dig tar zip flock passwd shutdown reboot dir cd
	cmd run fish dash`)

func words(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// shellCommand finds a command word at the start of the value or after a shell separator.
func shellCommand(c string) string {
	for i := 0; i <= len(c); i++ {
		start := i == 0
		if !start {
			switch c[i-1] {
			case ';', '|', '&', '`', '\n', '\r':
			case '(':
				if i < 2 || (c[i-2] != '$' && c[i-2] != '<' && c[i-2] != '>') {
					continue
				}
			default:
				continue
			}
		}
		var sep byte
		if !start {
			sep = c[i-1]
		}
		if m := commandAt(c, i, sep); m != "" {
			return m
		}
	}
	return ""
}

// commandAt reads a command at c[i:], after the separator sep (0 at the start of the value),
// optional spaces, a separator's second character and a directory such as /usr/bin/, and
// judges it with its first argument.
func commandAt(c string, i int, sep byte) string {
	start := sep == 0
	for i < len(c) && (c[i] == ' ' || c[i] == '\t' || c[i] == '|' || c[i] == '&' || c[i] == '(' || c[i] == '{') {
		i++
	}
	j := i
	for j < len(c) && isCommandByte(c[j]) {
		j++
	}
	if j == i {
		return ""
	}
	word := c[i:j]
	binPath := false
	if k := strings.LastIndexByte(word, '/'); k >= 0 {
		binPath = strings.HasPrefix(word, "/bin/") || strings.HasPrefix(word, "/usr/bin/") ||
			strings.HasPrefix(word, "/usr/sbin/") || strings.HasPrefix(word, "/sbin/") || strings.HasPrefix(word, "/usr/local/bin/")
		word = word[k+1:]
	}
	if word == "" || !binPath && !unambiguous[word] && !ambiguous[word] {
		return ""
	}
	// What follows the word: nothing, a separator, or an argument. '+' is a space that was
	// encoded once more than the form decoding undid.
	k := j
	for k < len(c) && (c[k] == ' ' || c[k] == '\t' || c[k] == '+') {
		k++
	}
	end := k == len(c) || strings.IndexByte(";|&`)\n\r<>", c[k]) >= 0
	if j < len(c) && !end && k == j && c[j] != ',' {
		return "" // the word runs on into something else (cat's, id=3)
	}
	arg := c[k:]
	// Separators that only a shell writes (prose has ; and &, and Markdown has ` for code).
	strong := sep == '|' || sep == '(' || sep == '&' && i > 1 && c[i-2] == '&'
	switch {
	case binPath:
		return c[i:j] // a system binary by its path
	case start:
		// A value that starts with a command: only with a shell-looking argument ("cat toys"
		// and "echo in the mirror" are sentences).
		if shellArg(arg, true) || subcommand(word, arg) || (unambiguous[word] && !end && word != "id" && word != "ls") {
			return c[i:j]
		}
	case unambiguous[word]:
		return c[i:j]
	case sep == '\n' || sep == '\r':
		// Lines of text: a multi-line field (a script, a post) is not a command line unless
		// the line looks like an attacker's (an option, a system path).
		if shellArg(arg, true) {
			return c[i:j]
		}
	case end && word != "run" && word != "set" && word != "time" && word != "start" && word != "call":
		return c[i:j]
	case shellArg(arg, false) || subcommand(word, arg):
		return c[i:j]
	case strong && !english[word] && arg != "" && ('a' <= arg[0] && arg[0] <= 'z' || '0' <= arg[0] && arg[0] <= '9'):
		return c[i:j]
	}
	return ""
}

// subcommand: Windows' net and reg with their verbs, sleep and ping with a count.
func subcommand(word, arg string) bool {
	first := firstField(arg)
	switch word {
	case "net":
		return netVerbs[first]
	case "reg":
		return first == "add" || first == "query" || first == "delete" || first == "export" || first == "import" || first == "save"
	case "sleep", "ping", "timeout":
		return first != "" && strings.Trim(first, "0123456789") == ""
	}
	return false
}

var netVerbs = words("user users view localgroup group use share start stop session accounts config")

func isCommandByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/'
}

// shellArg reports whether arg starts like a shell argument: an option (-la, --version,
// /c), a system path, a home or variable ($HOME, %SYSTEMROOT%), a glob, a URL. strict (a
// value that starts with the command) asks for a system path rather than any path.
func shellArg(arg string, strict bool) bool {
	if arg == "" {
		return false
	}
	switch arg[0] {
	case '-':
		return len(arg) > 1 && (arg[1] >= 'a' && arg[1] <= 'z' || arg[1] == '-' || arg[1] >= '0' && arg[1] <= '9')
	case '$', '%', '~', '*', '`':
		return true
	case '/':
		if !strict {
			return true
		}
		for _, d := range shellDirs {
			if strings.HasPrefix(arg, d) {
				return true
			}
		}
		return strings.ContainsAny(firstField(arg), "*?[")
	case '.':
		return strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../")
	}
	if len(arg) > 2 && arg[1] == ':' && 'a' <= arg[0] && arg[0] <= 'z' && (arg[2] == '/' || 'a' <= arg[2] && arg[2] <= 'z') {
		return true // c:\windows (the backslashes are gone: shellCanon)
	}
	return strings.HasPrefix(arg, "http://") || strings.HasPrefix(arg, "https://") || strings.HasPrefix(arg, "127.0.0.1")
}

var shellDirs = []string{"/etc/passwd", "/etc/shadow", "/etc/hosts", "/etc/group", "/etc/issue", "/bin/", "/usr/", "/sbin/",
	"/tmp/", "/dev/", "/proc/", "/var/", "/home/", "/root/", "/ ", "/;", "/|"}

func firstField(s string) string {
	if i := strings.IndexAny(s, " \t+;|&"); i >= 0 {
		return s[:i]
	}
	return s
}

// codeExec: code for an interpreter down the line, found anywhere in a value.
var codeExec = gates{
	gateNeeding("(){};", `\(\s*\)\s*\{[^}]*;\s*\}`, "{"), // shellshock
	gate(`\$\{?ifs\b`, "ifs"),                            // $IFS as a space
	gate(`\b(sh|bash|zsh|ksh|dash|csh|cmd|cmd\.exe|powershell|pwsh|python[0-9.]*|perl|ruby|php|node)\s+[-/](c|e|r|command|enc|encodedcommand|nop|exec)\b`, " -", " /"),
	gate(`/dev/(tcp|udp)/`, "/dev/"),
	gate(`%(systemroot|windir|comspec|programfiles|userprofile|appdata)%`, "%"),
	gateNeeding("%(", `\bfor\s+(/[a-z]\s+)?%%?~?[a-z/]\s+in\s*\(`, "for"), // cmd.exe loops
	gate(`\$\{\s*(\$\{|[a-z0-9]*:|::-)`, "${"),                            // Log4Shell lookups (${jndi:, ${${env:x:-j}ndi...)
	gate(`<\?(php|=|\s)`, "<?"),                                           // PHP open tags
	gate(`\$_(get|post|request|server|cookie|files|env|session)\b|\$globals\b`, "$_", "$globals"),
	gate(`\bo:\d+:"?[a-z_\\][a-z0-9_\\]*"?:\d+:\{|\ba:\d+:\{[sioabd]:`, ":{"),  // PHP serialised objects
	gate(`<!--\s*#\s*(exec|include|echo|config|printenv|set|fsize)\b`, "<!--"), // server-side includes
	gateNeeding("}", `\{\{[^}]{0,80}[*()\[\]][^}]{0,80}\}\}`, "{{"),            // template injection
	gate(`<#(assign|include|import)|freemarker\.template|#set\s*\(|<%[=@!]?[^%]*%>|#\{[^}]*[(.*][^}]*\}`, "<#", "freemarker", "#set", "<%", "#{"),
	gate(`\bjava\.[a-z.]*(runtime|processbuilder)\b|\bjava\.(lang|io|net|util\.zip)\.|\bjavax\.(script|naming|management)|processbuilder|runtime\.getruntime|getruntime\(|\bclass\.forname|classloader\b|\bognl\b|#_memberaccess`,
		"java", "processbuilder", "runtime", "class", "ognl", "memberaccess"),
	gate(`__(import|class|globals|builtins|subclasses|mro)__|\bos\.(system|popen|exec)|\bsubprocess\.|!!python/`, "__", "os.", "subprocess", "!!python"),
	gate(`child_process|process\.(mainmodule|binding)|constructor\s*\.\s*constructor|__proto__|constructor\s*(\.|\[)\s*prototype|\[constructor\]|_\$\$nd_func\$\$_|\b(exec|spawn|readdir|readfile)sync\b`,
		"child_process", "process.", "constructor", "__proto__", "_$$", "sync"),
}

// quotedCode: code recognised by its quotes, read before shellCanon removes them.
var quotedCode = gates{
	gateNeeding("$", `\$\s*\{\s*(['"$@]|[a-z_]+\s*\})`, "{"), // PHP complex variables: ${'a'}, ${$a}, ${ CONSTANT }
}

// codeFuncs run code or commands in PHP and JavaScript.
var codeFuncs = words(`system exec shell_exec passthru popen proc_open pcntl_exec eval assert create_function
	call_user_func call_user_func_array base64_decode gzinflate gzuncompress str_rot13 file_get_contents
	file_put_contents fopen readfile phpinfo phpversion bzdecompress highlight_file show_source unserialize
	require include include_once require_once settimeout setinterval`)

// codeCall finds a call of a codeFuncs function (quotes already gone), also written with gaps
// or as a variable function: system(, system ('id'), (system)('id'), ['system'][0](, $a(,
// ${'a'}(, @$b(. A space before the parenthesis is code only after a character that ends a
// statement or an expression: prose writes "the system (v2)".
func codeCall(v string) string {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '@': // @$name(: an error-suppressed variable function
			j := i + 2
			for j < len(v) && i+1 < len(v) && v[i+1] == '$' && ('a' <= v[j] && v[j] <= 'z' || v[j] == '_' || j > i+2 && '0' <= v[j] && v[j] <= '9') {
				j++
			}
			if j > i+2 && j < len(v) && v[j] == '(' {
				return v[i:j] + "("
			}
		case '(':
			if m := callee(v, i); m != "" {
				return m + "("
			}
		}
	}
	return ""
}

// callee returns the function called by the parenthesis at v[open], if it runs code.
func callee(v string, open int) string {
	j := open
	spaced := false
	for j > 0 && (v[j-1] == ' ' || v[j-1] == '\t') {
		j--
		spaced = true
	}
	if j > 0 && v[j-1] == ']' { // ['system'][0](
		k := strings.LastIndexByte(v[:j-1], '[')
		if k < 0 {
			return ""
		}
		j = k
	}
	if j > 0 && (v[j-1] == ')' || v[j-1] == '}') { // (system)( and ${a}(
		j--
	}
	end := j
	for j > 0 && isIdentByte(v[j-1]) {
		j--
	}
	name := v[j:end]
	if name == "" {
		return ""
	}
	if name[0] == '$' || j > 1 && v[j-1] == '{' && v[j-2] == '$' {
		// A variable function ($a(, $$a(, ${a}(), not a price ($5 (approx)).
		bare := strings.TrimLeft(name, "$")
		if bare == "" || '0' <= bare[0] && bare[0] <= '9' {
			return ""
		}
		return "$" + bare
	}
	if !codeFuncs[name] && !strings.HasPrefix(name, "posix_") && !strings.HasPrefix(name, "pcntl_") {
		return ""
	}
	if j > 0 && isIdentByte(v[j-1]) {
		return "" // the end of a longer word
	}
	if spaced && (j == 0 || strings.IndexByte(";(={$@`[|&", v[j-1]) < 0) {
		return "" // prose: "the system (v2)", "System (beta)"
	}
	return name
}

func isIdentByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '$'
}
