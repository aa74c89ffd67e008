# bash completion for transportcertctl(1): commands, options, services, and the thumbprints of
# the certificates the daemon holds (asked from the daemon with transportcertctl itself, on the
# bus or host the command line names).

_transportcertctl_thumbprints() {
	local -a bus=("$@")
	transportcertctl "${bus[@]}" --json=short --no-pager list 2>/dev/null |
		grep -o '"thumbprint":"[0-9A-F]\{40\}"' | cut -d'"' -f4
}

_transportcertctl() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local prev=${COMP_WORDS[COMP_CWORD-1]}
	local commands="status list show select explain enable disable import remove renew
		new-self-signed reload tlsa"
	local services="SMTP IMAP POP HTTP"
	local options="--help --version --bus= --host= -H --json= --no-legend --no-pager"
	COMPREPLY=()

	case $prev in
	--bus) COMPREPLY=($(compgen -W "system session" -- "$cur")); return ;;
	--json) COMPREPLY=($(compgen -W "pretty short" -- "$cur")); return ;;
	-H | --host) COMPREPLY=($(compgen -A hostname -- "$cur")); return ;;
	--services)
		local done=${cur%"${cur##*,}"}
		COMPREPLY=($(compgen -P "$done" -W "$services" -- "${cur##*,}"))
		return ;;
	esac
	case $cur in
	--bus=*) COMPREPLY=($(compgen -W "system session" -- "${cur#--bus=}")); return ;;
	--json=*) COMPREPLY=($(compgen -W "pretty short" -- "${cur#--json=}")); return ;;
	esac

	# The command, its arguments so far, and the options that choose the bus.
	local command="" i word
	local -a args=() bus=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		case $word in
		--bus | -H | --host) bus+=("$word" "${COMP_WORDS[i+1]}"); ((i++)) ;;
		--bus=* | --host=* | -H?*) bus+=("$word") ;;
		--services) ((i++)) ;;
		-*) ;;
		*) if [[ -z $command ]]; then command=$word; else args+=("$word"); fi ;;
		esac
	done

	if [[ $cur == -* ]]; then
		case $command in
		enable) options+=" --internal-transport" ;;
		import) options+=" --services" ;;
		esac
		COMPREPLY=($(compgen -W "$options" -- "$cur"))
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
		return
	fi
	if [[ -z $command ]]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return
	fi
	case $command in
	show | remove)
		((${#args[@]} == 0)) &&
			COMPREPLY=($(compgen -W "$(_transportcertctl_thumbprints "${bus[@]}")" -- "${cur^^}")) ;;
	enable | disable)
		if ((${#args[@]} == 0)); then
			COMPREPLY=($(compgen -W "$(_transportcertctl_thumbprints "${bus[@]}")" -- "${cur^^}"))
		else
			COMPREPLY=($(compgen -W "$services" -- "${cur^^}"))
		fi ;;
	select | explain)
		((${#args[@]} == 1)) && COMPREPLY=($(compgen -W "$services" -- "${cur^^}")) ;;
	import)
		COMPREPLY=($(compgen -f -- "$cur"))
		compopt -o filenames 2>/dev/null ;;
	esac
}

complete -F _transportcertctl transportcertctl
