namespace EchoKit.Hosting;

/// <summary>Which file an <see cref="EchoServerCertificateLoader.TryLoad"/> failure is about.</summary>
public enum EchoServerCertificateFile
{
    /// <summary>The certificate file (the <c>Tls:Certificate:Path</c> key, the <c>--tls-cert</c> flag).</summary>
    Certificate = 0,

    /// <summary>The PEM key file (the <c>Tls:Certificate:KeyPath</c> key, the <c>--tls-key</c> flag).</summary>
    Key = 1,
}
