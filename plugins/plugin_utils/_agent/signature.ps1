# gowin.server agent, op family 'signature': the Authenticode signature of a file, as the host judges it.
# Part of the agent that core.ps1 assembles (docs/agent-protocol.md, 'Op families'); its twin is
# plugins/plugin_utils/_winsim/signature.py and its contract vectors tests/contract/vectors/signature.yml.
# requires: fs
#
# Windows behaviour relied on (each one held by a vector):
# - Get-AuthenticodeSignature -LiteralPath (Windows PowerShell 5.1, Microsoft.PowerShell.Security) verifies
#   an embedded signature with WinVerifyTrust against the host's certificate stores and returns a
#   Signature whose Status is a SignatureStatus name: Valid, NotSigned, HashMismatch, NotTrusted,
#   UnknownError (for a chain that ends in a root the host does not trust, with the StatusMessage
#   "A certificate chain processed, but terminated in a root certificate which is not trusted by the trust
#   provider"), NotSupportedFileFormat, Incompatible.
# - SignerCertificate is the leaf X509Certificate2 (Thumbprint: 40 upper-case hex digits, the SHA-1 of its
#   DER bytes), $null when unsigned; TimeStamperCertificate is $null without a countersignature.
# - A file whose signature does not match its bytes reports HashMismatch and still names its signer.
# - A catalog-signed file (Windows' own) reports SignatureType Catalog; Go binaries are never catalog-signed.
#   The op reads the file, never runs it.

Register-AgentOps @{
    'signature.get' = @{ accepted = @('path'); run = { param($a) Invoke-OpSignatureGet $a } }
}

function ConvertTo-SignerFacts {
    param($Cert)
    if ($null -eq $Cert) { return $null }
    return [ordered]@{
        thumbprint = [string]$Cert.Thumbprint
        subject = [string]$Cert.Subject
        issuer = [string]$Cert.Issuer
        not_after = $Cert.NotAfter.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', [System.Globalization.CultureInfo]::InvariantCulture)
    }
}

function Invoke-OpSignatureGet {
    param($OpArgs)
    $path = Get-PathArg $OpArgs 'path' -Required -AllowUnc
    $info = Get-PathInfo $path
    if ($null -eq $info) {
        return [ordered]@{ exists = $false; status = $null; status_message = $null; signer = $null; timestamped = $false }
    }
    if ($info -is [System.IO.DirectoryInfo]) { Stop-Op 'bad_args' ("argument 'path' must name a file; " + $path + ' is a folder') }
    try {
        $sig = Get-AuthenticodeSignature -LiteralPath $path -ErrorAction Stop
    } catch [System.UnauthorizedAccessException] {
        Stop-Op 'access_denied' ('signature.get: ' + $path + ' cannot be read: ' + $_.Exception.Message)
    } catch {
        Stop-Op 'internal' ('signature.get: ' + $path + ': ' + $_.Exception.Message)
    }
    return [ordered]@{
        exists = $true
        status = $sig.Status.ToString()
        status_message = [string]$sig.StatusMessage
        signer = (ConvertTo-SignerFacts $sig.SignerCertificate)
        timestamped = ($null -ne $sig.TimeStamperCertificate)
    }
}
