# gowin.server agent, op family 'download': downloads over http(s) and copies from a share or a local path.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/download.py and its contract vectors tests/contract/vectors/download.yml.
# requires: fs, tree

# The family's ops: name -> accepted arguments and the one fixed function that runs it.
Register-AgentOps @{
    'file.download' = @{
        accepted = @('url', 'dest', 'sha256', 'username', 'password', 'validate_certs', 'timeout')
        run = { param($a) Invoke-OpFileDownload $a }
    }
}

# ---- file.download --------------------------------------------------------------------------

function Get-RedactedUrl {
    # The URL without its userinfo@ part. The authority runs from after 'scheme://' to the first '/',
    # '?' or '#' (or the end), and its userinfo ends at the LAST '@' in it (as the WHATWG URL standard,
    # Go's net/url and Python's urlsplit read it), so a password holding '@', ':' or '%40' is hidden
    # whole. One IndexOfAny and one LastIndexOf: linear in the length of the URL.
    param([string]$Url)
    $m = [regex]::Match($Url, '^[A-Za-z][A-Za-z0-9+.-]*://')
    if (-not $m.Success) { return $Url }
    $start = $m.Length
    $end = $Url.IndexOfAny([char[]]@([char]47, [char]63, [char]35), $start)
    if ($end -lt 0) { $end = $Url.Length }
    if ($end -le $start) { return $Url }
    $at = $Url.LastIndexOf([char]64, $end - 1, $end - $start)
    if ($at -lt 0) { return $Url }
    return ($Url.Substring(0, $start) + $Url.Substring($at + 1))
}

function ConvertTo-HttpUri {
    # The absolute http(s) URI a download requests, or $null when $Url is not one. Userinfo is cut at
    # the authority's last '@' first (Get-RedactedUrl) and never sent: System.Uri itself ends userinfo
    # at the FIRST '@' (its CheckAuthorityHelper, .NET Framework 4.6.2 to 4.8 alike), so it would
    # read 'u:p@ss@host' as host 'ss' (or reject it) while the message names 'host'. Credentials go in
    # username/password. TryCreate(UriKind.Absolute) answers false, never throws, for text it cannot
    # parse ('http://[::1', 'https://exa mple/'); a scheme other than http/https or an empty host is
    # refused too.
    param([string]$Url)
    $uri = $null
    if (-not [System.Uri]::TryCreate((Get-RedactedUrl $Url), [System.UriKind]::Absolute, [ref]$uri)) { return $null }
    if (($uri.Scheme -cne 'http' -and $uri.Scheme -cne 'https') -or [string]::IsNullOrEmpty($uri.Host)) { return $null }
    return $uri
}

function Get-UriOrigin {
    # scheme://host:port, the port made explicit (Uri.Port is 80/443 when the URL gives none).
    param([System.Uri]$Uri)
    return ($Uri.Scheme + '://' + $Uri.Host.ToLowerInvariant() + ':' + $Uri.Port)
}

function Enable-ModernTls {
    $proto = [System.Net.ServicePointManager]::SecurityProtocol -bor [System.Net.SecurityProtocolType]::Tls12
    # TLS 1.3 only where Schannel has it (Windows Server 2022, build 20348, and later): asking older
    # Schannel for it can break the handshake.
    if ([Enum]::IsDefined([System.Net.SecurityProtocolType], 'Tls13') -and [System.Environment]::OSVersion.Version.Build -ge 20348) {
        $proto = $proto -bor ([System.Net.SecurityProtocolType]'Tls13')
    }
    [System.Net.ServicePointManager]::SecurityProtocol = $proto
}

function Get-WebFailureText {
    # Why a web request failed, from the WebException: HTTP status, or the transport reason.
    param($Exception, [int]$TimeoutSeconds)
    $ex = $Exception
    while ($ex -is [System.Management.Automation.RuntimeException] -and $null -ne $ex.InnerException) { $ex = $ex.InnerException }
    if ($ex -is [System.Net.WebException]) {
        $resp = $ex.Response
        if ($resp -is [System.Net.HttpWebResponse]) {
            $code = [int]$resp.StatusCode
            $desc = [string]$resp.StatusDescription
            try { $resp.Close() } catch { $null = $_ }
            return ('HTTP ' + $code + ' ' + $desc)
        }
        $status = $ex.Status.ToString()
        if ($status -eq 'Timeout') { return ('timed out after ' + $TimeoutSeconds + ' seconds') }
        if ($status -eq 'TrustFailure') {
            $inner = ''
            if ($null -ne $ex.InnerException) { $inner = ' (' + $ex.InnerException.Message + ')' }
            return ('the server certificate is not trusted' + $inner + '; validate_certs: false skips this check for a known server')
        }
        $text = $status + ': ' + $ex.Message
        if ($null -ne $ex.InnerException) { $text = $text + ' (' + $ex.InnerException.Message + ')' }
        return $text
    }
    $timedOut = $false
    $probe = $ex
    while ($null -ne $probe) {
        if ($probe -is [System.Net.Sockets.SocketException] -and $probe.SocketErrorCode.ToString() -eq 'TimedOut') { $timedOut = $true }
        if ($probe -is [System.Net.WebException] -and $probe.Status.ToString() -eq 'Timeout') { $timedOut = $true }
        if ($probe -is [System.TimeoutException]) { $timedOut = $true }
        $probe = $probe.InnerException
    }
    if ($timedOut) { return ('timed out after ' + $TimeoutSeconds + ' seconds') }
    return ($ex.GetType().Name + ': ' + $ex.Message)
}

function Get-HttpResponse {
    # GET $Uri and follow redirects by hand (at most 10: 301, 302, 303, 307, 308; a relative Location
    # is resolved against the URL that answered). AllowAutoRedirect is false: then .NET returns every
    # 3xx answer to the caller instead of following it (documented for HttpWebRequest.AllowAutoRedirect)
    # and throws WebException (ProtocolError) for 4xx/5xx as before. Basic credentials go in an
    # Authorization header only while the URL's origin (scheme, host, port) is the original one: no
    # CredentialCache, no PreAuthenticate, which .NET would carry along a redirect. A redirect from
    # https to http is refused unless the original URL was http. Returns the 2xx HttpWebResponse.
    param([System.Uri]$Uri, $User, $Password, [bool]$ValidateCerts, [int]$TimeoutSeconds, [string]$Shown)
    $origin = Get-UriOrigin $Uri
    $auth = $null
    if ($null -ne $User) {
        $pw = ''
        if ($null -ne $Password) { $pw = [string]$Password }
        $auth = 'Basic ' + [System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes([string]$User + ':' + $pw))
    }
    $current = $Uri
    $hops = 0
    while ($true) {
        $req = [System.Net.HttpWebRequest]([System.Net.WebRequest]::Create($current))
        $req.Method = 'GET'
        $req.UserAgent = 'gowin-agent/1'
        $req.AllowAutoRedirect = $false
        $req.Timeout = $TimeoutSeconds * 1000
        $req.ReadWriteTimeout = $TimeoutSeconds * 1000
        if (-not $ValidateCerts) {
            # Only this request skips the check (never ServicePointManager, which is process-wide).
            $req.ServerCertificateValidationCallback = { $true }
        }
        if ($null -ne $auth -and (Get-UriOrigin $current) -ceq $origin) { $req.Headers.Add('Authorization', $auth) }
        $resp = $null
        try {
            $resp = [System.Net.HttpWebResponse]$req.GetResponse()
        } catch {
            Stop-Op 'download_failed' ('download of ' + $Shown + ' failed: ' + (Get-WebFailureText $_.Exception $TimeoutSeconds))
        }
        $code = [int]$resp.StatusCode
        if ($code -ge 200 -and $code -le 299) { return $resp }
        $location = [string]$resp.Headers['Location']
        $desc = [string]$resp.StatusDescription
        $resp.Close()
        if (@(301, 302, 303, 307, 308) -notcontains $code) {
            Stop-Op 'download_failed' ('download of ' + $Shown + ' failed: HTTP ' + $code + ' ' + $desc)
        }
        if ([string]::IsNullOrEmpty($location)) {
            Stop-Op 'download_failed' ('download of ' + $Shown + ' failed: HTTP ' + $code + ' without a Location')
        }
        $hops++
        if ($hops -gt 10) { Stop-Op 'download_failed' ('download of ' + $Shown + ' failed: more than 10 redirects') }
        # A scheme-relative Location (//host/path) takes the scheme of the URL that answered; userinfo
        # in a Location is cut off like in url (never sent, never shown).
        if ($location.StartsWith('//')) { $location = $current.Scheme + ':' + $location }
        $location = Get-RedactedUrl $location
        $next = $null
        if (-not [System.Uri]::TryCreate([System.Uri]$current, [string]$location, [ref]$next) -or
            ($next.Scheme -cne 'http' -and $next.Scheme -cne 'https') -or [string]::IsNullOrEmpty($next.Host)) {
            Stop-Op 'download_failed' ('download of ' + $Shown + ' failed: HTTP ' + $code + ' redirects to ' + (Get-RedactedUrl $location) +
                ', which is not an http(s) URL')
        }
        if ($next.Scheme -ceq 'http' -and $Uri.Scheme -ceq 'https') {
            Stop-Op 'download_failed' ('download of ' + $Shown + ' failed: HTTP ' + $code + ' redirects from https to ' +
                $next.AbsoluteUri + '; a redirect to plain http is refused')
        }
        $current = $next
    }
}

function Save-HttpFile {
    # Stream the response body of $Uri into $Dest; returns @{ size; sha256 }. Failures of the
    # transfer itself are 'download_failed'; failures of writing dest keep their own kind.
    param([System.Uri]$Uri, [string]$Shown, [string]$Dest, $User, $Password, [bool]$ValidateCerts, [int]$TimeoutSeconds)
    Enable-ModernTls
    $resp = Get-HttpResponse $Uri $User $Password $ValidateCerts $TimeoutSeconds $Shown
    try {
        $length = [long]$resp.ContentLength
        $in = $resp.GetResponseStream()
        $out = New-Object System.IO.FileStream($Dest, [System.IO.FileMode]::Create, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
        $sha = New-Sha256
        $got = [long]0
        try {
            $buf = New-Object byte[] 1048576
            while ($true) {
                $n = 0
                try {
                    $n = $in.Read($buf, 0, $buf.Length)
                } catch {
                    Stop-Op 'download_failed' ('download of ' + $shown + ' failed: ' + (Get-WebFailureText $_.Exception $TimeoutSeconds))
                }
                if ($n -le 0) { break }
                $out.Write($buf, 0, $n)
                [void]$sha.TransformBlock($buf, 0, $n, $null, 0)
                $got += $n
            }
            [void]$sha.TransformFinalBlock((New-Object byte[] 0), 0, 0)
            $digest = ConvertTo-HexString $sha.Hash
        } finally {
            $out.Dispose()
            $sha.Dispose()
            $in.Dispose()
        }
        if ($length -ge 0 -and $got -lt $length) {
            Stop-Op 'download_failed' ('download of ' + $shown + ' failed: the connection closed after ' + $got + ' of ' + $length + ' bytes')
        }
        return @{ size = $got; sha256 = $digest }
    } finally {
        $resp.Close()
    }
}

function Invoke-OpFileDownload {
    param($OpArgs)
    $url = Get-StringArg $OpArgs 'url' -Required
    $dest = Get-PathArg $OpArgs 'dest' -Required -AllowUnc
    $sha = Get-StringArg $OpArgs 'sha256'
    if ($null -ne $sha -and $sha -notmatch '^[0-9a-fA-F]{64}$') {
        Stop-Op 'bad_args' "argument 'sha256' must be 64 hex digits (a SHA-256)"
    }
    $validate = Get-BoolArg $OpArgs 'validate_certs' $true
    $timeout = Get-IntArg $OpArgs 'timeout' -Default 300 -Min 1 -Max 86400
    $user = Get-StringArg $OpArgs 'username'
    $password = Get-StringArg $OpArgs 'password' -AllowEmpty
    if ($null -ne $password -and $null -eq $user) {
        Stop-Op 'bad_args' "argument 'username' is required when password is given"
    }
    $shown = Get-RedactedUrl $url
    $isWeb = $url -match '^(?i)https?://'
    $source = $null
    $web = $null
    if ($isWeb) {
        # Checked before anything at dest is touched: an unparsable URL fails here, not after dest was removed.
        $web = ConvertTo-HttpUri $url
        if ($null -eq $web) {
            Stop-Op 'bad_args' ("argument 'url' is not a valid http(s) URL (it needs a host, and a port of 0 to 65535 if any); got '" +
                $shown + "'")
        }
    } else {
        $norm = $url.Replace('/', '\')
        if (-not ($norm.StartsWith('\\') -or $norm -match '^[A-Za-z]:\\')) {
            Stop-Op 'bad_args' ("argument 'url' must be an https:// or http:// URL, a UNC path (\\server\share\file) or a " +
                "local path (C:\...); got '" + $shown + "'")
        }
        $source = ConvertTo-AgentPath $url 'url' -AllowUnc
        if ([string]::Equals($source, $dest, [System.StringComparison]::OrdinalIgnoreCase)) {
            Stop-Op 'bad_args' "argument 'url' is the same file as dest"
        }
    }
    if ([System.IO.Directory]::Exists($dest)) { Stop-Op 'exists' ('file.download: dest ' + $dest + ' is a directory') }
    # Checked where the file goes: through a junction whose target is gone, the target.
    $resolved = Resolve-DanglingLink $dest
    Test-DriveRoot $resolved 'file.download'
    Assert-NoFileAbove $resolved 'file.download'
    if ([System.IO.File]::Exists($dest)) {
        $locked = Find-LockedFile $dest
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('file.download: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
    }
    $created = New-ParentFolders $resolved
    try {
        if ($isWeb) {
            $result = Save-HttpFile $web $shown $dest $user $password $validate ([int]$timeout)
            $size = $result.size
            $digest = $result.sha256
        } else {
            # Checked inside the try: a missing source is a failure after dest was accepted, so the
            # file that was at dest is removed too (as the protocol and winsim do).
            $missingSource = 'file.download: ' + $source + ' does not exist or is not a file (or the network path cannot be reached)'
            if (-not [System.IO.File]::Exists($source)) { Stop-Op 'download_failed' $missingSource }
            try {
                [System.IO.File]::Copy($source, $dest, $true)
            } catch [System.IO.FileNotFoundException] {
                Stop-Op 'download_failed' $missingSource
            }
            $size = [long](New-Object System.IO.FileInfo($dest)).Length
            $digest = Get-FileSha256 $dest
        }
        if ($null -ne $sha -and $digest -ne $sha.ToLowerInvariant()) {
            Stop-Op 'checksum_mismatch' ('file.download: ' + $shown + ' has sha256 ' + $digest + ', expected ' +
                $sha.ToLowerInvariant() + '; the file was deleted')
        }
    } catch {
        $err = Convert-ExceptionToError $_.Exception
        # Once dest could be written, a failure leaves no file there (one that was there is gone too).
        if ($err.kind -ne 'in_use') { Remove-FileQuietly $dest }
        Remove-CreatedFolders $created
        if ($err.kind -eq 'disk_full') {
            Stop-Op 'disk_full' ('file.download: there is not enough space on drive ' + (Get-DriveLabel $dest) + ' for ' + $dest +
                ' (' + $err.message + '); the partial file was removed')
        }
        Stop-Op $err.kind $err.message
    }
    return [ordered]@{ size = [long]$size; sha256 = $digest }
}
