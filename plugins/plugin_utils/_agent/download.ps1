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
    # The URL without any user:password@ part.
    param([string]$Url)
    return ($Url -replace '^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@', '$1')
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

function Save-HttpFile {
    # Stream the response body of $Url into $Dest; returns @{ size; sha256 }. Failures of the
    # transfer itself are 'download_failed'; failures of writing dest keep their own kind.
    param([string]$Url, [string]$Dest, $User, $Password, [bool]$ValidateCerts, [int]$TimeoutSeconds)
    $shown = Get-RedactedUrl $Url
    Enable-ModernTls
    $uri = New-Object System.Uri($Url)
    $req = [System.Net.HttpWebRequest]([System.Net.WebRequest]::Create($uri))
    $req.Method = 'GET'
    $req.UserAgent = 'gowin-agent/1'
    $req.AllowAutoRedirect = $true
    $req.Timeout = $TimeoutSeconds * 1000
    $req.ReadWriteTimeout = $TimeoutSeconds * 1000
    if (-not $ValidateCerts) {
        # Only this request skips the check (never ServicePointManager, which is process-wide).
        $req.ServerCertificateValidationCallback = { $true }
    }
    if ($null -ne $User) {
        $pw = ''
        if ($null -ne $Password) { $pw = [string]$Password }
        $cred = New-Object System.Net.NetworkCredential([string]$User, $pw)
        # A credential cache scoped to this URL: a redirect to another place never gets it.
        $cache = New-Object System.Net.CredentialCache
        $cache.Add($uri, 'Basic', $cred)
        $req.Credentials = $cache
        $req.PreAuthenticate = $true
        $token = [System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes([string]$User + ':' + $pw))
        $req.Headers.Add('Authorization', 'Basic ' + $token)
    }
    $resp = $null
    try {
        $resp = $req.GetResponse()
    } catch {
        Stop-Op 'download_failed' ('download of ' + $shown + ' failed: ' + (Get-WebFailureText $_.Exception $TimeoutSeconds))
    }
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
    if (-not $isWeb) {
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
    Test-DriveRoot $dest 'file.download'
    Assert-NoFileAbove $dest 'file.download'
    if ([System.IO.File]::Exists($dest)) {
        $locked = Find-LockedFile $dest
        if ($null -ne $locked) {
            Stop-Op 'in_use' ('file.download: ' + $locked + ' is in use by another process (it is open, e.g. the executable of a running service)')
        }
    }
    $created = New-ParentFolders $dest
    try {
        if ($isWeb) {
            $result = Save-HttpFile $url $dest $user $password $validate ([int]$timeout)
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
