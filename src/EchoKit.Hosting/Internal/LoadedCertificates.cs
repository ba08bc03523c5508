using System.Security.Cryptography.X509Certificates;

namespace EchoKit.Hosting.Internal;

/// <summary>
/// Owns the certificates loaded from configuration (the server never disposes its certificate), so they are
/// disposed with the container, after the servers that use them: this singleton is created while the options are
/// built, before any server, and the container disposes in reverse order of creation. On Windows that also
/// deletes the key files a PKCS#12 import writes.
/// </summary>
internal sealed class LoadedCertificates : IDisposable
{
    private readonly List<X509Certificate2> _certificates = [];
    private bool _disposed;

    public void Add(X509Certificate2 certificate)
    {
        lock (_certificates)
        {
            if (!_disposed)
            {
                _certificates.Add(certificate);
                return;
            }
        }

        // Options built after the container was disposed: nothing will use them.
        certificate.Dispose();
    }

    public void Dispose()
    {
        X509Certificate2[] certificates;
        lock (_certificates)
        {
            _disposed = true;
            certificates = [.. _certificates];
            _certificates.Clear();
        }

        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }
}
