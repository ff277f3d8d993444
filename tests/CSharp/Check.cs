namespace AutoDesign.Tests.CSharp;

/// <summary>Marks a public static parameterless method as a test (run by the F# test runner).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class CSharpTestAttribute : Attribute
{
    public CSharpTestAttribute(string name) => Name = name;
    public string Name { get; }
}

/// <summary>Assertions: each throws with the message when its condition fails.</summary>
public static class Check
{
    public static void True(bool condition, string message)
    {
        if (!condition) throw new Exception(message);
    }

    public static void Close(double expected, double actual, double tolerance, string message) =>
        True(Math.Abs(expected - actual) <= tolerance, $"{message}: expected {expected}, got {actual}");

    public static void Throws<TException>(Action action, string message) where TException : Exception
    {
        try { action(); }
        catch (TException) { return; }
        throw new Exception($"{message}: expected {typeof(TException).Name}");
    }
}
